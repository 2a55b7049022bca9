from __future__ import annotations

from nacre.assess import RiskAssessment


def _harmful_with_unlikely_hazard() -> RiskAssessment:
    # A harmful assessment names its most likely hazard even where 'none' scores higher and the hazard is tiny.
    return RiskAssessment(
        scope="turn",
        harmful=True,
        harm_probability=0.88,
        category="sexual_content",
        categories={"none": 0.9638, "sexual_content": 0.0088, "self_harm": 0.002},
        severity=2,
        user_type={"benign": 0.2, "vulnerable": 0.0, "malicious": 0.8},
        interaction="directive",
    )


def test_json_distribution_keeps_the_named_category() -> None:
    data = _harmful_with_unlikely_hazard().to_dict()
    assert data["category"] in data["categories"]
    assert data["categories"] == {"none": 0.9638, "sexual_content": 0.0088}
