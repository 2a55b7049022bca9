"""nacre: constructive LLM safety.

The public API is re-exported here; everything else lives in subpackages with their own small public surface.
"""

from nacre._version import __version__
from nacre.conversation import ContentPart, Conversation, Message, Turn
from nacre.errors import NacreError
from nacre.models import ChatModel, Completion, GenerationConfig, ModelSettings, get_model
from nacre.store import Store

__all__ = [
    "ChatModel",
    "Completion",
    "ContentPart",
    "Conversation",
    "GenerationConfig",
    "Message",
    "ModelSettings",
    "NacreError",
    "Store",
    "Turn",
    "__version__",
    "get_model",
]
