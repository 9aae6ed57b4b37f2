"""The playbook bot's conversation logic: greeting, preliminary questions with validation, CQL rules.

Pure and synchronous: :meth:`Bot.handle` takes the visitor as stored and the text the visitor just sent and
returns what to say and what changed. The bot's place in the dialogue is derived from stored data
(``Visitor.answers``, whether it already spoke in this conversation), so it survives a restart; only the
count of invalid attempts lives in memory. ``chat_server.automation`` applies the result through the
service layer (bot-authored messages, VisitorUpdated, CqlChanged) and then routes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from agent_app.protocol import Visitor
from chat_server.playbook import (
    Condition,
    CqlRule,
    Playbook,
    Question,
    email_domain,
    normalize_email,
    parse_team_size,
)

MAX_ANSWER = 500


@dataclass
class BotTurn:
    """What the bot does after one visitor message."""

    says: list[str] = field(default_factory=list)
    visitor: Visitor | None = None  # the updated visitor when an answer was taken
    done: bool = False  # every question answered (or given up on): rate and route now
    cql: CqlRule | None = None  # set with done: the first CQL rule that matched


def _fill_known(playbook: Playbook, visitor: Visitor) -> bool:
    """Answers the visitor gave elsewhere (profile form, earlier conversation) count: not asked twice."""
    changed = False
    known = {"email": visitor.email, "company": visitor.company, "name": visitor.name}
    for q in playbook.questions:
        if q.key in visitor.answers:
            continue
        value = known.get(q.kind, "")
        if q.kind == "team_size" and visitor.team_size is not None:
            value = str(visitor.team_size)
        if value:
            visitor.answers[q.key] = value
            changed = True
    return changed


def pending_question(playbook: Playbook, visitor: Visitor, skipped: Iterable[str] = ()) -> Question | None:
    skipped = set(skipped)
    for q in playbook.questions:
        if q.key not in visitor.answers and q.key not in skipped:
            return q
    return None


def visited_pages(visitor: Visitor) -> list[str]:
    return [visitor.current_page, *(p.url for p in visitor.pages)]


def condition_holds(playbook: Playbook, when: Condition, visitor: Visitor) -> bool:
    if when.page and not any(p.matches(url) for url in visited_pages(visitor) if url for p in when.page):
        return False
    size = visitor.team_size
    if when.team_size_at_least is not None and (size is None or size < when.team_size_at_least):
        return False
    if when.team_size_below is not None and (size is None or size >= when.team_size_below):
        return False
    email = visitor.email or visitor.answers.get("email", "")
    if when.personal_email is not None and (not email or playbook.is_personal(email) != when.personal_email):
        return False
    if when.email_domain and email_domain(email) not in when.email_domain:
        return False
    if when.country and visitor.country.upper() not in when.country:
        return False
    for key, words in when.answer_contains.items():
        answer = visitor.answers.get(key, "").casefold()
        if not any(w in answer for w in words):
            return False
    return True


def rate(playbook: Playbook, visitor: Visitor) -> CqlRule | None:
    """The first CQL rule (in file order) whose conditions all hold."""
    for rule in playbook.rules:
        if condition_holds(playbook, rule.when, visitor):
            return rule
    return None


class Bot:
    def __init__(self, playbook: Playbook) -> None:
        self.playbook = playbook
        self._attempts: dict[tuple[str, str], int] = {}  # (conversation, question) -> invalid answers
        self._skipped: dict[str, set[str]] = {}

    def runs_for(self, visitor: Visitor) -> bool:
        return bool(visitor.current_page) and self.playbook.runs_on(visitor.current_page)

    def forget(self, conversation_id: str) -> None:
        self._skipped.pop(conversation_id, None)
        for key in [k for k in self._attempts if k[0] == conversation_id]:
            del self._attempts[key]

    def handle(self, conversation_id: str, visitor: Visitor, text: str, *, started: bool) -> BotTurn:
        """``started``: the bot already spoke in this conversation (so ``text`` answers its last question)."""
        pb = self.playbook
        turn = BotTurn()
        visitor = _copy(visitor)
        changed = _fill_known(pb, visitor)
        skipped = self._skipped.setdefault(conversation_id, set())
        if not started:
            opener = next((q for q in pb.questions if q.first_message), None)
            if opener is not None and opener.key not in visitor.answers:
                visitor.answers[opener.key] = text.strip()[:MAX_ANSWER]
                changed = True
            if pb.greeting:
                turn.says.append(pb.greeting)
        else:
            question = pending_question(pb, visitor, skipped)
            if question is not None:
                ok, retry = self._answer(question, visitor, text)
                if ok:
                    changed = True
                else:
                    key = (conversation_id, question.key)
                    self._attempts[key] = self._attempts.get(key, 0) + 1
                    if self._attempts[key] < question.max_attempts:
                        turn.says.append(retry)
                        turn.visitor = visitor if changed else None
                        return turn
                    skipped.add(question.key)  # don't keep a visitor stuck in a loop
        question = pending_question(pb, visitor, skipped)
        if question is not None:
            turn.says.append(question.text)
        else:
            turn.done = True
            turn.cql = rate(pb, visitor)
            if pb.thanks and started:
                turn.says.append(pb.thanks)
        turn.visitor = visitor if changed else None
        return turn

    def _answer(self, q: Question, visitor: Visitor, text: str) -> tuple[bool, str]:
        text = " ".join(text.split())[:MAX_ANSWER]
        if q.kind == "email":
            email = normalize_email(text)
            if email is None:
                return False, q.retry or "That doesn't look like an email address — could you check it?"
            visitor.email = email
            visitor.answers[q.key] = email
        elif q.kind == "team_size":
            size = parse_team_size(text)
            if size is None:
                return False, q.retry or "A number or a range like 50-200, please."
            visitor.team_size = size[0]
            visitor.answers[q.key] = text
        elif q.kind == "company":
            if not text:
                return False, q.text
            visitor.company = text[:200]
            visitor.answers[q.key] = visitor.company
        elif q.kind == "name":
            if not text:
                return False, q.text
            visitor.name = text[:100]
            visitor.answers[q.key] = visitor.name
        else:
            if not text:
                return False, q.text
            visitor.answers[q.key] = text
        return True, ""


def _copy(visitor: Visitor) -> Visitor:
    import msgspec

    return msgspec.structs.replace(visitor, answers=dict(visitor.answers))
