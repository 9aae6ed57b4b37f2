"""In-memory Salesforce org for the sandbox: schema, 18-char ids, records, validation and duplicate rules."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sandbox.soql import QueryError, Select, matches, order_records

PREFIX = {"Lead": "00Q", "Contact": "003", "Account": "001", "User": "005", "Task": "00T"}
_COMMON = {"Id", "CreatedDate", "LastModifiedDate", "OwnerId"}
SCHEMA: dict[str, set[str]] = {
    "User": {"Id", "Name", "FirstName", "LastName", "Email", "Username", "IsActive", "UserType", "Title"},
    "Account": _COMMON
    | {
        "Name",
        "Website",
        "Industry",
        "NumberOfEmployees",
        "AnnualRevenue",
        "BillingCity",
        "BillingState",
        "BillingCountry",
        "Type",
        "Description",
        "LastActivityDate",
    },
    "Contact": _COMMON
    | {
        "AccountId",
        "FirstName",
        "LastName",
        "Name",
        "Email",
        "Phone",
        "Title",
        "LeadSource",
        "MailingCity",
        "MailingState",
        "MailingCountry",
        "LastActivityDate",
    },
    "Lead": _COMMON
    | {
        "FirstName",
        "LastName",
        "Name",
        "Company",
        "Email",
        "Phone",
        "Title",
        "Website",
        "City",
        "State",
        "Country",
        "NumberOfEmployees",
        "AnnualRevenue",
        "Industry",
        "LeadSource",
        "Status",
        "Rating",
        "IsConverted",
        "ConvertedAccountId",
        "ConvertedContactId",
        "ConvertedDate",
        "Description",
        "LastActivityDate",
        "CQL_Level__c",
        "Chat_Visitor_Id__c",
    },
    "Task": _COMMON
    | {
        "WhoId",
        "WhatId",
        "Subject",
        "Description",
        "ActivityDate",
        "Status",
        "Priority",
        "Type",
        "TaskSubtype",
    },
}
READ_ONLY = {
    "Id",
    "Name",
    "CreatedDate",
    "LastModifiedDate",
    "LastActivityDate",
    "IsConverted",
    "ConvertedAccountId",
    "ConvertedContactId",
    "ConvertedDate",
}
REQUIRED = {
    "Lead": ["LastName", "Company"],
    "Contact": ["LastName"],
    "Account": ["Name"],
    "User": ["LastName"],
}
# External ID fields (usable for upsert: PATCH /sobjects/<type>/<field>/<value>).
EXTERNAL_IDS: dict[str, set[str]] = {"Lead": {"Chat_Visitor_Id__c"}}
_TYPES = {
    "Email": "email",
    "Phone": "phone",
    "Website": "url",
    "NumberOfEmployees": "int",
    "AnnualRevenue": "currency",
    "CQL_Level__c": "double",
    "Description": "textarea",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
}
_PICKLISTS = {"Status", "Rating", "Industry", "LeadSource", "Type", "Priority", "TaskSubtype", "UserType"}


def describe_field(sobject: str, name: str) -> dict[str, Any]:
    """One field of a describe result, with the attributes clients read (type, createable, ...)."""
    if name == "Id":
        kind = "id"
    elif name in _TYPES:
        kind = _TYPES[name]
    elif name.endswith("Id"):
        kind = "reference"
    elif name.startswith("Is"):
        kind = "boolean"
    elif name.endswith("Date"):
        kind = "date"
    else:
        kind = "picklist" if name in _PICKLISTS else "string"
    writable = name not in READ_ONLY
    return {
        "name": name,
        "label": re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name.removesuffix("__c").replace("_", " ")),
        "type": kind,
        "custom": name.endswith("__c"),
        "createable": writable,
        "updateable": writable,
        "nillable": writable and kind != "boolean" and name not in REQUIRED.get(sobject, []),
        "externalId": name in EXTERNAL_IDS.get(sobject, set()),
        "idLookup": name == "Id" or name in EXTERNAL_IDS.get(sobject, set()) or kind == "email",
    }


# Relationship name -> (foreign-key field, target types)
RELATIONS = {
    "Owner": ("OwnerId", ("User",)),
    "Account": ("AccountId", ("Account",)),
    "Who": ("WhoId", ("Lead", "Contact")),
    "What": ("WhatId", ("Account",)),
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sf_id(prefix: str, n: int) -> str:
    """A valid 18-character id: 15 case-sensitive chars plus the case-folding checksum."""
    body = ""
    while n:
        n, r = divmod(n, 62)
        body = _BASE62[r] + body
    id15 = prefix + "5e" + body.rjust(10, "0")
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _CHARS[bits]
    return id15 + suffix


def now_iso() -> str:
    """Salesforce's datetime format, e.g. 2013-05-20T20:49:32.000+0000."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _norm_company(name: str) -> str:
    words = re.sub(r"[^a-z0-9 ]", " ", name.lower()).split()
    return " ".join(w for w in words if w not in {"inc", "llc", "ltd", "gmbh", "corp", "co", "sa", "ag"})


class RecordError(Exception):
    """A save error: the real REST error array and HTTP status."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0].get("message", ""))
        self.status, self.errors = status, errors


class Org:
    """Records by type and id, with the sandbox's duplicate and assignment rules."""

    def __init__(self, version: str = "62.0") -> None:
        self.records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in SCHEMA}
        self.counter = 1000
        self.version = version
        self.duplicate_rule_action = "alert"  # "alert" -> allowSave true; "block" -> allowSave false
        self.lead_assignment_owner: str | None = None  # assignment rule target when Sforce-Auto-Assign is on

    def load_seed(self) -> None:
        """Load sandbox/data/salesforce.json (users, accounts, contacts, leads, tasks with fixed ids)."""
        text = resources.files("sandbox").joinpath("data/salesforce.json").read_text()
        data = json.loads(text)
        for sobject in ("User", "Account", "Contact", "Lead", "Task"):
            for rec in data.get(sobject, []):
                rec = dict(rec)
                rec.setdefault("CreatedDate", "2025-01-06T09:00:00.000+0000")
                rec.setdefault("LastModifiedDate", rec["CreatedDate"])
                self._computed(sobject, rec)
                self.records[sobject][rec["Id"]] = rec
        self.lead_assignment_owner = data.get("lead_assignment_owner")

    def new_id(self, sobject: str) -> str:
        self.counter += 1
        return sf_id(PREFIX[sobject], self.counter)

    def find(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        """Look an id up across all types (15- or 18-char)."""
        for sobject, recs in self.records.items():
            for rid, rec in recs.items():
                if rid == record_id or rid[:15] == record_id:
                    return sobject, rec
        return None

    def get(self, record: dict[str, Any], path: str) -> Any:
        """Field value with relationship traversal (Owner.Name); case-insensitive names like SOQL."""
        parts = path.split(".")
        current: dict[str, Any] | None = record
        for i, part in enumerate(parts):
            if current is None:
                return None
            if i == len(parts) - 1:
                key = next((k for k in current if k.lower() == part.lower()), None)
                return current.get(key) if key else None
            rel = next((r for r in RELATIONS if r.lower() == part.lower()), None)
            if rel is None:
                return None
            ref = current.get(RELATIONS[rel][0])
            found = self.find(ref) if ref else None
            current = found[1] if found else None
        return None

    def check_fields(self, sobject: str, fields: list[str]) -> list[str]:
        """Canonical field names, or INVALID_FIELD with the real wording."""
        out = []
        for f in fields:
            parts = f.split(".")
            target = sobject
            for part in parts[:-1]:
                rel = next((r for r in RELATIONS if r.lower() == part.lower()), None)
                if rel is None or RELATIONS[rel][0] not in SCHEMA[target]:
                    raise QueryError(
                        "INVALID_FIELD", f"Didn't understand relationship '{part}' in field path."
                    )
                target = RELATIONS[rel][1][0]
            name = next((c for c in SCHEMA[target] if c.lower() == parts[-1].lower()), None)
            if name is None:
                raise QueryError(
                    "INVALID_FIELD",
                    f"\nSELECT {', '.join(fields)} FROM {sobject}\n^\nERROR at Row:1:Column:8\n"
                    f"No such column '{parts[-1]}' on entity '{target}'. If you are attempting to use a "
                    "custom field, be sure to append the '__c' after the custom field name. Please reference "
                    "your WSDL or the describe call for the appropriate names.",
                )
            out.append(".".join([*parts[:-1], name]))
        return out

    def select(self, q: Select) -> list[dict[str, Any]]:
        """Run a parsed SELECT and return raw matching records (not yet shaped)."""
        sobject = next((t for t in SCHEMA if t.lower() == q.sobject.lower()), None)
        if sobject is None:
            raise QueryError("INVALID_TYPE", f"sObject type '{q.sobject}' is not supported.")
        q.sobject = sobject
        q.fields = self.check_fields(sobject, q.fields)
        self._check_where(sobject, q.where)
        self.check_fields(sobject, [o[0] for o in q.order])
        rows = [r for r in self.records[sobject].values() if matches(q.where, r, self.get)]
        order_records(rows, q.order, self.get)
        rows = rows[q.offset :]
        return rows if q.limit is None else rows[: q.limit]

    def _check_where(self, sobject: str, expr: Any) -> None:
        if expr is None:
            return
        if expr[0] in ("and", "or"):
            self._check_where(sobject, expr[1])
            self._check_where(sobject, expr[2])
        elif expr[0] == "not":
            self._check_where(sobject, expr[1])
        else:
            self.check_fields(sobject, [expr[1]])

    def shape(self, sobject: str, record: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
        """The JSON of one record: attributes, then the asked fields, relationships nested."""
        out: dict[str, Any] = {"attributes": self.attributes(sobject, record["Id"])}
        for f in fields if fields is not None else sorted(SCHEMA[sobject]):
            parts = f.split(".")
            if len(parts) == 1:
                out[f] = record.get(f)
                continue
            rel_key = RELATIONS[next(r for r in RELATIONS if r.lower() == parts[0].lower())][0]
            ref = record.get(rel_key)
            found = self.find(ref) if ref else None
            if found is None:
                out[parts[0]] = None
                continue
            nested = out.setdefault(parts[0], {"attributes": self.attributes(found[0], found[1]["Id"])})
            if nested is not None:
                nested[parts[-1]] = self.get(found[1], ".".join(parts[1:]))
        return out

    def attributes(self, sobject: str, rid: str) -> dict[str, str]:
        return {"type": sobject, "url": f"/services/data/v{self.version}/sobjects/{sobject}/{rid}"}

    # -- writes ---------------------------------------------------------------------------------------
    def validate(self, sobject: str, fields: dict[str, Any], creating: bool) -> None:
        """Raise RecordError with the real error array for bad writes."""
        if not isinstance(fields, dict):
            raise RecordError(
                400,
                [
                    {
                        "message": "Json Deserialization failed on token 'null'",
                        "errorCode": "JSON_PARSER_ERROR",
                    }
                ],
            )
        if "Id" in fields:
            raise RecordError(
                400,
                [
                    {
                        "message": "The Id field should not be specified in the sobject data.",
                        "errorCode": "INVALID_FIELD",
                    }
                ],
            )
        for name in fields:
            if name == "attributes":
                continue
            if name not in SCHEMA[sobject]:
                raise RecordError(
                    400,
                    [
                        {
                            "message": f"No such column '{name}' on sobject of type {sobject}",
                            "errorCode": "INVALID_FIELD",
                        }
                    ],
                )
            if name in READ_ONLY:
                raise RecordError(
                    400,
                    [
                        {
                            "message": f"Unable to create/update fields: {name}. Please check the "
                            "security settings of this field and verify that it is read/write for "
                            "your profile or permission set.",
                            "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                            "fields": [name],
                        }
                    ],
                )
        missing = [f for f in REQUIRED.get(sobject, []) if creating and not fields.get(f)]
        if missing:
            raise RecordError(
                400,
                [
                    {
                        "message": f"Required fields are missing: [{', '.join(missing)}]",
                        "errorCode": "REQUIRED_FIELD_MISSING",
                        "fields": missing,
                    }
                ],
            )
        email = fields.get("Email")
        if email and not _EMAIL.match(str(email)):
            raise RecordError(
                400,
                [
                    {
                        "message": f"Email: invalid email address: {email}",
                        "errorCode": "INVALID_EMAIL_ADDRESS",
                        "fields": ["Email"],
                    }
                ],
            )
        owner = fields.get("OwnerId")
        if owner is not None:
            user = self.records["User"].get(owner)
            if user is None:
                raise RecordError(
                    400,
                    [
                        {
                            "message": f"Owner ID: id value of incorrect type: {owner}",
                            "errorCode": "MALFORMED_ID",
                            "fields": ["OwnerId"],
                        }
                    ],
                )
            if not user.get("IsActive", True):
                raise RecordError(
                    400,
                    [
                        {
                            "message": "operation performed with inactive user as owner",
                            "errorCode": "INACTIVE_OWNER_OR_USER",
                            "fields": [],
                        }
                    ],
                )
        for key in ("WhoId", "WhatId", "AccountId"):
            if fields.get(key) and self.find(fields[key]) is None:
                raise RecordError(
                    400,
                    [
                        {
                            "message": f"{key}: id value of incorrect type: {fields[key]}",
                            "errorCode": "INVALID_CROSS_REFERENCE_KEY",
                            "fields": [key],
                        }
                    ],
                )

    def duplicates(self, fields: dict[str, Any], details: bool) -> list[dict[str, Any]]:
        """Match results of the sandbox's Lead duplicate rule (email exact, or company + last name)."""
        results = []
        email = (fields.get("Email") or "").lower()
        company = _norm_company(fields.get("Company") or "")
        last = (fields.get("LastName") or "").lower()
        lead_hits = []
        for rec in self.records["Lead"].values():
            if rec.get("IsConverted"):
                continue
            if email and (rec.get("Email") or "").lower() == email:
                lead_hits.append((rec, 100.0, "ExactMatchEngine"))
            elif (
                company
                and _norm_company(rec.get("Company") or "") == company
                and (rec.get("LastName") or "").lower() == last
            ):
                lead_hits.append((rec, 90.0, "FuzzyMatchEngine"))
        contact_hits = [
            (r, 100.0, "ExactMatchEngine")
            for r in self.records["Contact"].values()
            if email and (r.get("Email") or "").lower() == email
        ]
        for entity, rule, hits in (
            ("Lead", "Standard_Lead_Match_Rule_v1_0", lead_hits),
            ("Contact", "Standard_Contact_Match_Rule_v1_1", contact_hits),
        ):
            if not hits:
                continue
            results.append(
                {
                    "entityType": entity,
                    "errors": [],
                    "matchEngine": hits[0][2],
                    "matchRecords": [
                        {
                            "additionalInformation": [],
                            "fieldDiffs": [],
                            "matchConfidence": conf,
                            "record": self.shape(entity, rec, None if details else ["Id"]),
                        }
                        for rec, conf, _ in hits
                    ],
                    "rule": rule,
                    "size": len(hits),
                    "success": True,
                }
            )
        return results

    def create(self, sobject: str, fields: dict[str, Any], user_id: str, auto_assign: bool) -> str:
        """Insert a record (validation done by the caller); returns the new id."""
        rec = {k: v for k, v in fields.items() if k != "attributes"}
        rec["Id"] = self.new_id(sobject)
        rec.setdefault("OwnerId", user_id)
        if sobject == "Lead":
            rec.setdefault("Status", "Open - Not Contacted")
            rec["IsConverted"] = False
            if auto_assign and self.lead_assignment_owner:
                rec["OwnerId"] = self.lead_assignment_owner
        if sobject == "Task":
            rec.setdefault("Status", "Not Started")
            rec.setdefault("Priority", "Normal")
        rec["CreatedDate"] = rec["LastModifiedDate"] = now_iso()
        self._computed(sobject, rec)
        self.records[sobject][rec["Id"]] = rec
        self._touch_activity(rec if sobject == "Task" else None)
        return str(rec["Id"])

    def update(self, sobject: str, rec: dict[str, Any], fields: dict[str, Any], auto_assign: bool) -> None:
        """Apply a PATCH; an active assignment rule overrides OwnerId unless auto-assign is off."""
        if sobject == "Lead" and rec.get("IsConverted"):
            raise RecordError(
                400,
                [
                    {
                        "message": "cannot reference converted lead",
                        "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD",
                        "fields": [],
                    }
                ],
            )
        rec.update({k: v for k, v in fields.items() if k != "attributes"})
        if sobject == "Lead" and auto_assign and self.lead_assignment_owner:
            rec["OwnerId"] = self.lead_assignment_owner
        rec["LastModifiedDate"] = now_iso()
        self._computed(sobject, rec)

    def _touch_activity(self, task: dict[str, Any] | None) -> None:
        if not task or not task.get("WhoId") or not task.get("ActivityDate"):
            return
        found = self.find(task["WhoId"])
        if found:
            who = found[1]
            if (who.get("LastActivityDate") or "") < task["ActivityDate"]:
                who["LastActivityDate"] = task["ActivityDate"]

    @staticmethod
    def _computed(sobject: str, rec: dict[str, Any]) -> None:
        if sobject in ("Lead", "Contact", "User"):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        for f in SCHEMA[sobject]:
            rec.setdefault(f, None)
