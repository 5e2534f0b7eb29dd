"""The OpenAPI schema says the limits the server enforces (issue 14: the fuzzer holds every
answer to it): a header value has no line break, ids are 1..MAX_PK, a campaign key is a number
or `camp_` + 12 hex, and endpoint 7 needs one of its four sources.

Loaded with the URLs (`fliptech/urls.py`): the field extension registers itself on import and
`postprocess` is named in SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension

from .ids import MAX_PK

NO_LINE_BREAKS = "^[^\\r\\n\\u000b\\u000c\\u0085\\u2028\\u2029]*$"
CAMPAIGN_KEY = f"^([1-9][0-9]{{0,{len(str(MAX_PK)) - 1}}}|camp_[0-9a-f]{{12}})$"
INTEGER_PATH_PARAMETERS = {"rid", "pk"}
SOURCES = ["lead_ids", "leads", "lead_filters", "segment_id"]


class HeaderCharFieldExtension(OpenApiSerializerFieldExtension):
    """`fliptech.api.HeaderCharField`: a string with no line break (it goes into a mail header)."""

    target_class = "fliptech.api.HeaderCharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**schema, "pattern": NO_LINE_BREAKS}


def postprocess(result, generator, request, public):
    """After drf-spectacular's enum hook: the limits the views enforce on their own."""
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "path":
                    continue
                schema = parameter.setdefault("schema", {})
                if parameter["name"] == "id" and path.startswith("/api/v1/campaigns/"):
                    schema.update(type="string", pattern=CAMPAIGN_KEY)
                elif schema.get("type") == "integer" or parameter["name"] in INTEGER_PATH_PARAMETERS:
                    schema.update(type="integer", minimum=1, maximum=MAX_PK)
    add = result.get("components", {}).get("schemas", {}).get("AddRecipientsRequestRequest")
    if add is not None:
        add["anyOf"] = [{"required": [name]} for name in SOURCES]
    return result
