"""Demo team, visitor personas with scripts and canned replies, and the past conversations seeded once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from agent_app import protocol as p

DEMO_PASSWORD: Final = "demo-password"
DEMO_EMAIL: Final = "alex@demo.sdr"
SITE: Final = "https://www.example-saas.com"


@dataclass(frozen=True)
class DemoAgent:
    email: str
    name: str
    role: str  # protocol.Role value
    territory: str
    timezone: str


TEAM: Final[tuple[DemoAgent, ...]] = (
    DemoAgent("alex@demo.sdr", "Alex Rivera", "sdr", "US-West", "America/Los_Angeles"),
    DemoAgent("sam@demo.sdr", "Sam Chen", "sdr", "US-East", "America/New_York"),
    DemoAgent("jordan@demo.sdr", "Jordan Patel", "sdr", "EMEA", "Europe/London"),
    DemoAgent("maria@demo.sdr", "Maria Gomez", "sdr", "LATAM/APAC", "America/Sao_Paulo"),
    DemoAgent("casey@demo.sdr", "Casey Morgan", "manager", "", "America/Chicago"),
)

PAGES: Final[dict[str, str]] = {
    "/": "Example SaaS - Revenue intelligence for growing teams",
    "/pricing": "Pricing - Example SaaS",
    "/integrations/salesforce": "Salesforce integration - Example SaaS",
    "/product": "Product tour - Example SaaS",
    "/security": "Security & compliance - Example SaaS",
    "/customers": "Customer stories - Example SaaS",
    "/demo": "Book a demo - Example SaaS",
    "/blog/sdr-playbook": "The SDR playbook - Example SaaS blog",
}


@dataclass(frozen=True)
class Persona:
    """A website visitor: who they are, where they browse, what they ask and how they answer."""

    key: str
    name: str
    email: str
    company: str
    title: str
    city: str  # free text, e.g. "Austin, TX"
    timezone: str  # IANA zone sent in visitor_hello (the server may derive the region from it)
    team_size: int
    pages: tuple[str, ...]  # paths under SITE; the first is the landing page
    script: tuple[str, ...]  # 2-5 messages sent on their own, in order
    topic: str = "general"  # key of AGENT_ANSWERS used when seeding past conversations
    shares_profile: bool = True  # fills in name/email/company in the widget
    referrer: str = ""
    utm: dict[str, str] = field(default_factory=dict)
    duplicate: bool = False  # deliberately matches seeded Salesforce duplicates

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1]

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


def _p(path: str) -> str:
    return SITE + path


GOOGLE = "https://www.google.com/"
LINKEDIN = "https://www.linkedin.com/"
G2 = "https://www.g2.com/categories/sales-intelligence"

# fmt: off
# Companies and people come from sandbox/data/companies.json (DataFox) and salesforce.json: jane (lead AND
# contact, different owners), peter (Initech: three leads under three company spellings), kenji (existing
# contact), richard/priya/ana (existing leads, ana with a personal address) are deliberate CRM matches.
PERSONAS: Final[tuple[Persona, ...]] = (
    Persona("peter", "Peter Gibbons", "peter.gibbons@initech.com", "Initech", "Division Manager",
            "Austin, TX", "America/Chicago", 650, ("/integrations/salesforce", "/pricing"),
            ("Hi, do you integrate with Salesforce?",
             "We're a 650-person team in Austin, what does pricing look like?",
             "Could someone walk us through a demo next week?"), "pricing", referrer=GOOGLE, duplicate=True),
    Persona("jane", "Jane Doe", "jane.doe@acme-robotics.com", "Acme Robotics", "VP Sales",
            "San Jose, CA", "America/Los_Angeles", 420, ("/integrations/salesforce", "/security", "/pricing"),
            ("Hello! Does the Salesforce sync write activities back to leads?",
             "We already have Salesforce with a lot of duplicate leads, does your tool handle that?",
             "Is there SSO with Okta?"), "integration", duplicate=True),
    Persona("marcus", "Marcus Lee", "marcus.lee@tyrell.tech", "Tyrell Corporation", "Sales Ops Manager",
            "Seattle, WA", "America/Los_Angeles", 3100, ("/", "/product", "/pricing"),
            ("Hey there - is there a free trial?", "We have about 3,000 people, 60 in sales.",
             "What does onboarding look like?"), "trial", utm={"utm_source": "linkedin"}),
    Persona("tom", "Tom Becker", "tom.becker@stark-industries.com", "Stark Industries",
            "Director of Sales Development", "New York, NY", "America/New_York", 12000,
            ("/security", "/pricing", "/demo"),
            ("Hi, are you SOC 2 Type II certified?", "We need data residency in the US. Is that possible?",
             "Our SDR team is 40 people. What would an enterprise plan cost?",
             "Can I get a call with someone this week?"), "security"),
    Persona("olivia", "Olivia Grant", "olivia@fresh-startup.io", "Fresh Startup", "Founder",
            "Portland, OR", "America/Los_Angeles", 12, ("/", "/pricing"),
            ("Is there a plan for very small teams?", "We're 12 people, 2 of them in sales."),
            "trial", shares_profile=False),
    Persona("lukas", "Lukas Schneider", "lukas.schneider@monarch-solutions.de", "Monarch Solutions",
            "Head of Inside Sales", "Berlin, DE", "Europe/Berlin", 310,
            ("/security", "/integrations/salesforce", "/pricing"),
            ("Hello, is your product GDPR compliant?", "Do you host data in the EU, e.g. Frankfurt?",
             "We have 310 employees. Could you send me an offer in EUR?"), "security", referrer=G2),
    Persona("emma", "Emma Clarke", "emma.clarke@gekko.co.uk", "Gekko & Co", "Marketing Director",
            "London, UK", "Europe/London", 90, ("/customers", "/pricing", "/demo"),
            ("Hi! Do you have customers in the UK?",
             "We'd want to route chats to reps by region, can you do that?",
             "What does pricing look like for 90 people?"), "routing"),
    Persona("sophie", "Sophie Martin", "sophie.martin@zorg.fr", "Zorg Industries", "BD Lead",
            "Paris, FR", "Europe/Paris", 4100, ("/product", "/integrations/salesforce"),
            ("Bonjour! Do you support French language chats?",
             "And can the transcript go into Salesforce automatically?"), "integration"),
    Persona("rafael", "Rafael Souza", "rafael.souza@andes-logistics.com.br", "Andes Logistics",
            "Sales Manager", "São Paulo, BR", "America/Sao_Paulo", 1300, ("/", "/pricing", "/demo"),
            ("Hi, do you have a Portuguese interface?",
             "We are 1,300 people in São Paulo. What are the prices in BRL?", "I'd like to book a demo."),
            "pricing"),
    Persona("ana", "Ana Kowalska", "ana@gmail.com", "Freelance Design", "Designer", "Kraków, PL",
            "Europe/Warsaw", 1, ("/blog/sdr-playbook", "/pricing"),
            ("Hi! Do you have a plan for freelancers?", "It would be just me."), "trial", duplicate=True),
    Persona("kenji", "Kenji Sato", "kenji.sato@kaizen-analytics.jp", "Kaizen Analytics", "Sales Enablement",
            "Osaka, JP", "Asia/Tokyo", 85, ("/security", "/pricing"),
            ("Hello, do you have a data center in Japan?",
             "How many seats are included in the enterprise plan?"), "security", duplicate=True),
    Persona("chloe", "Chloe Nguyen", "chloe.nguyen@sydney-solar.com.au", "Sydney Solar", "COO",
            "Sydney, AU", "Australia/Sydney", 60, ("/", "/product", "/pricing"),
            ("G'day, what hours is your support team available?", "We're 60 people in Sydney.",
             "Can we trial it with 5 SDRs first?"), "trial", referrer=LINKEDIN),
    Persona("jake", "Jake Miller", "jake.miller@aperture-labs.com", "Aperture Laboratories", "Sales Lead",
            "Denver, CO", "America/Denver", 520, ("/blog/sdr-playbook", "/pricing"),
            ("Just read your SDR playbook post, great stuff.", "Do you have a monthly plan or annual only?",
             "We're 520 people in Denver."), "pricing", shares_profile=False),
    Persona("rachel", "Rachel Kim", "rachel.kim@massive-dynamic.com", "Massive Dynamic", "Revenue Operations",
            "Boston, MA", "America/New_York", 8800, ("/integrations/salesforce", "/security", "/demo"),
            ("Hi, how does the Salesforce lead owner handoff work?",
             "We use territories by state. Can routing follow those?",
             "Can I get a demo with our RevOps lead?"), "routing"),
    Persona("richard", "Richard Hendricks", "richard@pied-piper.io", "Pied Piper", "CEO",
            "Palo Alto, CA", "America/Los_Angeles", 38, ("/product", "/pricing"),
            ("Hi, we're evaluating chat tools for our new sales team.", "We're 38 people in Palo Alto.",
             "Do you offer startup discounts?"), "trial", duplicate=True),
    Persona("priya", "Priya Raman", "priya@mumbai-fintech.in", "Mumbai Fintech", "Head of Growth",
            "Mumbai, IN", "Asia/Kolkata", 540, ("/customers", "/integrations/salesforce"),
            ("Hello, do you have customers in India?", "Can we pay in INR?"), "routing", duplicate=True),
)
# fmt: on

PERSONAS_BY_KEY: Final = {p.key: p for p in PERSONAS}

# fmt: off
# What a seeded SDR answers to a persona's questions, by topic (one answer per visitor message).
AGENT_ANSWERS: Final[dict[str, tuple[str, ...]]] = {
    "pricing": ("Hi {first}! Yes, we have a native Salesforce integration. Happy to help.",
                "For a team your size we'd look at the Growth plan, priced per seat. "
                "What's the best email to send the details to?",
                "Absolutely, I'll share my calendar so you can pick a time."),
    "integration": ("Hi {first}! Yes: every chat is logged as an activity on the lead or contact.",
                    "We match on email and company, so duplicates are flagged instead of created.",
                    "Yes, SAML SSO with Okta and Azure AD is included on Enterprise."),
    "trial": ("Hi {first}, yes, there's a 14-day trial with all features.",
              "Great, that's a perfect fit for our Starter plan.",
              "Onboarding is a 30-minute call plus a checklist; most teams are live in a day."),
    "security": ("Hi {first}! Yes, we're SOC 2 Type II certified and I can send the report under NDA.",
                 "Yes, we offer regional hosting for data residency.",
                 "Let me connect you with the right rep for your region for the commercial details.",
                 "Sure, here's my calendar."),
    "routing": ("Hi {first}, yes, we have customers all over the world.",
                "Yes, routing follows your territory table (country and state rules).",
                "Happy to set that up, what's the best email to reach you?"),
    "general": ("Hi {first}, thanks for reaching out! How can I help?",),
}
# fmt: on


@dataclass(frozen=True)
class PastConversation:
    """A conversation seeded once at first start so the demo opens with a lived-in queue."""

    persona: str  # PERSONAS_BY_KEY key
    assignee: str  # team email
    closed: bool
    cql: int | None
    hours_ago: float  # when the visitor said hello
    turns: int = 2  # visitor message + agent answer pairs
    note: str = ""  # a private note the assignee leaves


# fmt: off
PAST_CONVERSATIONS: Final[tuple[PastConversation, ...]] = (
    PastConversation("jane", "alex@demo.sdr", True, 3, 70, 3, "Demo booked; the lead is Sam's."),
    PastConversation("marcus", "alex@demo.sdr", True, 2, 66, 3),
    PastConversation("tom", "sam@demo.sdr", True, 3, 60, 4),
    PastConversation("lukas", "jordan@demo.sdr", True, 2, 55, 3),
    PastConversation("rafael", "maria@demo.sdr", True, 1, 50, 2),
    PastConversation("olivia", "alex@demo.sdr", True, 0, 47, 2, "Too small for now, nurture."),
    PastConversation("emma", "jordan@demo.sdr", True, 2, 30, 3),
    PastConversation("kenji", "maria@demo.sdr", True, 1, 28, 2, "Existing contact, owned by Maria."),
    PastConversation("jake", "alex@demo.sdr", True, 0, 26, 2),
    PastConversation("rachel", "sam@demo.sdr", True, 2, 24, 3, "Wants state-based routing, send case study."),
    PastConversation("richard", "alex@demo.sdr", True, 1, 22, 3),
    PastConversation("ana", "jordan@demo.sdr", True, 0, 20, 2, "Personal email, freelancer."),
    PastConversation("sophie", "jordan@demo.sdr", True, None, 8, 2),
    PastConversation("chloe", "maria@demo.sdr", True, 1, 6, 2),
    PastConversation("peter", "sam@demo.sdr", True, 2, 5, 3, "Initech: 3 leads in SFDC, merge first."),
    PastConversation("jane", "alex@demo.sdr", False, 3, 3, 2, "Returning: follow up on pricing."),
    PastConversation("marcus", "alex@demo.sdr", False, 2, 2, 2),
    PastConversation("tom", "sam@demo.sdr", False, None, 1.5, 2),
    PastConversation("emma", "jordan@demo.sdr", False, 1, 1.2, 1),
    PastConversation("priya", "maria@demo.sdr", False, None, 1.0, 1),
)
# fmt: on


def agent_answer(persona: Persona, turn: int) -> str:
    """The seeded SDR's answer to the persona's ``turn``-th message."""
    answers = AGENT_ANSWERS.get(persona.topic, AGENT_ANSWERS["general"])
    return answers[min(turn, len(answers) - 1)].format(first=persona.first_name)


def canned_reply(persona: Persona, message: p.Message, replies_so_far: int) -> str:
    """A plausible answer: bare values to the bot's questions, a sentence to the SDR."""
    t, bot = message.text.lower(), message.author_kind == p.AuthorKind.BOT
    if "email" in t or "e-mail" in t:
        return persona.email if bot else f"Sure, it's {persona.email}"
    if "company" in t and "?" in t:
        return persona.company if bot else f"I work at {persona.company}."
    if any(w in t for w in ("how many", "team size", "how big", "employees", "headcount", "number")):
        return str(persona.team_size) if bot else f"We're about {persona.team_size} people."
    if "name" in t and "?" in t:
        return persona.name if bot else f"I'm {persona.name}, {persona.title} at {persona.company}."
    if any(w in t for w in ("where are you", "located", "based")):
        return f"We're based in {persona.city}."
    if any(w in t for w in ("calendar", "book", "meeting", "call", "demo")):
        return "That would be great, I'll pick a slot."
    generic = ("Thanks, that helps!", "Makes sense. What would the next step be?", "Great, thank you!")
    return generic[replies_so_far % len(generic)]


# Saved replies of the demo team: the team's (owner None; the manager edits them) and one per SDR.
TEAM_REPLIES: Final[tuple[tuple[str, str, str], ...]] = (
    ("greet", "Greeting",
     "Hi {visitor_first_name}, thanks for reaching out! I'm {my_first_name} from the sales team. "
     "What brings you to Example SaaS today?"),
    ("book", "Book a call",
     "Happy to walk you and the {company} team through it on a short call, {visitor_first_name}. "
     "{calendar_link}"),
    ("pricing", "Pricing",
     "Plans start at $49 per seat per month, billed annually; volume pricing starts at 50 seats. "
     "I can put together a quote for {company}."),
    ("salesforce", "Salesforce integration",
     "Yes: we integrate natively with Salesforce. Leads, contacts and activities sync both ways within a "
     "minute, and your reps keep working in Salesforce."),
)  # fmt: skip


def personal_reply(member: DemoAgent) -> tuple[str, str, str]:
    """(shortcut, title, text) of an SDR's own intro."""
    first = member.name.split()[0]
    return (
        "intro",
        "My intro",
        f"Hi {{visitor_first_name}}, {first} here: I look after our {member.territory} customers. "
        "How can I help?",
    )


class _ReplyStorage(Protocol):
    def agent_by_email(self, email: str) -> Any: ...
    def count_saved_replies(self, owner_id: str | None) -> int: ...
    def save_saved_reply(self, reply: p.SavedReply) -> None: ...
    def commit_now(self) -> None: ...


def seed_saved_replies(storage: _ReplyStorage, now: float) -> int:
    """Adds the demo's saved replies where an owner has none yet (a demo file from before saved replies
    gets them too); returns how many were added. Runs before any client connects: no events needed."""
    added: list[p.SavedReply] = []
    if not storage.count_saved_replies(None):
        for shortcut, title, text in TEAM_REPLIES:
            added.append(p.SavedReply(id=uuid.uuid4().hex, shortcut=shortcut, title=title, text=text,
                                      owner_id=None, updated_at=now))  # fmt: skip
    for member in TEAM:
        record = storage.agent_by_email(member.email)
        if member.role != "sdr" or record is None or storage.count_saved_replies(record.agent.id):
            continue
        shortcut, title, text = personal_reply(member)
        added.append(p.SavedReply(id=uuid.uuid4().hex, shortcut=shortcut, title=title, text=text,
                                  owner_id=record.agent.id, updated_at=now))  # fmt: skip
    for reply in added:
        storage.save_saved_reply(reply)
    if added:
        storage.commit_now()
    return len(added)
