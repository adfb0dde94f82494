"""The official `motia.types` module path: the types official Motia 1.0 code imports from here."""

from .http_stream import ChannelReader, ChannelWriter, MotiaHttpArgs, MotiaHttpRequest, MotiaHttpResponse

__all__ = ["ChannelReader", "ChannelWriter", "MotiaHttpArgs", "MotiaHttpRequest", "MotiaHttpResponse"]
