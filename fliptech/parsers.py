"""Request parsers. A module of its own: DRF settings import it while rest_framework.views
is being imported, so it must not import views itself."""

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus: a document nested too deeply for Python's decoder is a 400
    (parse_error), not a RecursionError and a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
