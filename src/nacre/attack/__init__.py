"""Red teaming: multi-round attacks (MRJ, Crescendo), Strata-Sword transforms, persuasion techniques, campaigns.

Examples:
    >>> from nacre.attack import attack_registry
    >>> "mrj" in attack_registry()
    True
"""

from nacre.attack._attacker import AttackerSession, Plan, Proposal
from nacre.attack._campaign import Campaign, CampaignConfig, Roles, export_jsonl, load_results
from nacre.attack._context import AttackContext, AttackOptions
from nacre.attack._control import SimilarityBand, calibrate_band, cosine_to
from nacre.attack._limits import EndpointLimits, LimitedModel
from nacre.attack._multiround import CrescendoAttack, MRJAttack, MultiRoundAttack, attempt_seed
from nacre.attack._persuasion import (
    CalibrationSet,
    Technique,
    TechniqueLibrary,
    TechniqueSelector,
    load_calibration,
    load_techniques,
)
from nacre.attack._registry import Attack, AttackInfo, attack_registry, create_attack
from nacre.attack._single import TransformAttack
from nacre.attack._summary import summarize
from nacre.attack._target import GuardTarget, ModelTarget, Target, TargetReply, target_factory
from nacre.attack._types import AttemptResult, Exchange, Outcome, RoleUsage, UsageLedger

__all__ = [
    "Attack",
    "AttackContext",
    "AttackInfo",
    "AttackOptions",
    "AttackerSession",
    "AttemptResult",
    "CalibrationSet",
    "Campaign",
    "CampaignConfig",
    "CrescendoAttack",
    "EndpointLimits",
    "Exchange",
    "GuardTarget",
    "LimitedModel",
    "MRJAttack",
    "ModelTarget",
    "MultiRoundAttack",
    "Outcome",
    "Plan",
    "Proposal",
    "RoleUsage",
    "Roles",
    "SimilarityBand",
    "Target",
    "TargetReply",
    "Technique",
    "TechniqueLibrary",
    "TechniqueSelector",
    "TransformAttack",
    "UsageLedger",
    "attack_registry",
    "attempt_seed",
    "calibrate_band",
    "cosine_to",
    "create_attack",
    "export_jsonl",
    "load_calibration",
    "load_results",
    "load_techniques",
    "summarize",
    "target_factory",
]
