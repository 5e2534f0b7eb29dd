"""The plain-data template context: a lead's and a campaign's fields as dicts and strings
(sample data for previews and launch checks), never model instances."""

from .links import TOKEN_VAR

SAMPLE_LEAD = {
    "id": None,
    "email": "jane.doe@example.com",
    "first_name": "Jane",
    "last_name": "Doe",
    "company": "Example Realty",
    "phone": "+1 512 555 0100",
    "city": "Austin",
    "source": "craigslist",
    "status": "new",
    "tags": ["sample"],
    "attributes": {},
}
LEAD_FIELDS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "company",
    "phone",
    "city",
    "source",
    "status",
    "tags",
    "attributes",
)


def lead_data(lead=None, recipient=None) -> dict:
    """The `lead` context entry: a Lead's fields and attributes as plain data.

    A recipient whose lead was deleted still renders from its own copy of the address
    and names. With neither, sample data (previews and launch checks)."""
    if lead is not None:
        data = {name: getattr(lead, name) for name in LEAD_FIELDS}
        data["tags"] = list(data["tags"] or [])
        data["attributes"] = dict(data["attributes"] or {})
        return data
    if recipient is not None:
        return {
            **{name: "" for name in LEAD_FIELDS},
            "id": None,
            "tags": [],
            "attributes": {},
            "email": recipient.email_address,
            "first_name": recipient.first_name,
            "last_name": recipient.last_name,
        }
    return {**SAMPLE_LEAD, "tags": list(SAMPLE_LEAD["tags"]), "attributes": {}}


def campaign_data(campaign=None) -> dict:
    if campaign is None:
        return {"name": "Sample campaign", "campaign_id": "camp_000000000000"}
    return {"name": campaign.name, "campaign_id": campaign.campaign_id}


def context_for(*, lead: dict, campaign: dict, unsubscribe: str, view_in_browser: str = "", token: str = "") -> dict:
    """The template context. `token` fills the tracking URLs written into the source by
    `instrument_source` (empty for previews, which carry no tracking)."""
    return {
        "lead": lead,
        "campaign": campaign,
        "unsubscribe_url": unsubscribe,
        "view_in_browser_url": view_in_browser,
        TOKEN_VAR: token,
    }


# What a template can use, listed beside the editor: (tag, what it gives).
MERGE_TAGS = [
    *(
        (f"{{{{ lead.{name} }}}}", f"the lead's {name.replace('_', ' ')}")
        for name in LEAD_FIELDS
        if name not in ("id", "tags", "attributes")
    ),
    ("{{ lead.first_name|default:'there' }}", "the first name, or “there” when empty"),
    ("{{ lead.tags|join:', ' }}", "the lead's tags"),
    ("{{ campaign.name }}", "the campaign's name"),
    ("{{ unsubscribe_url }}", "the recipient's one-click unsubscribe link (required in marketing mail)"),
    ("{{ view_in_browser_url }}", "the message as a web page"),
]


def merge_tags(attribute_keys=()) -> list[tuple[str, str]]:
    """MERGE_TAGS plus `{{ lead.attributes.<key> }}` for each of `attribute_keys` that a
    template can name (a Django variable: letters, digits, underscores)."""
    usable = [k for k in attribute_keys if isinstance(k, str) and k.isidentifier() and not k.startswith("_")]
    return [*MERGE_TAGS, *((f"{{{{ lead.attributes.{k} }}}}", "a lead attribute") for k in sorted(usable)[:30])]
