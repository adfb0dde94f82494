"""Official motia 1.0's `motia.types_stream`: the stream definition, subscription and authentication types."""

from .inputs import StreamAuthInput, StreamAuthResult, StreamSubscription
from .streams import StreamConfig

__all__ = ["StreamAuthInput", "StreamAuthResult", "StreamConfig", "StreamSubscription"]
