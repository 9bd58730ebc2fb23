"""What simulated customers do with their messages: the `messages:` part of a model.

    messages:
      delivered: 0.98                     # of emails and SMS: reported delivered
      opened: {default: 0.45, thank_you: 0.7}       # of delivered emails, by template
      clicked: {default: 0.25, referral_reward: 0.4}  # of opened emails
      surveys: {csat_survey: csat, nps_survey: nps}  # templates with a survey link
      answered: {default: 0.6}            # of survey messages sent
      scores: {csat: [3, 4, 4, 5, 5], nps: [6, 8, 9, 10]}  # an answer: one, evenly

The run records what follows through the functions production uses for the same
records: the provider's reports (`record_message_events`, as SendGrid's event webhook
does) and the survey answers (`record_survey_answer`, as the survey page does), so
the report's delivery, open and click rates, its CSAT and NPS, and an A/B test judged
on clicks have something to count. The draws are the demo's (`demo_reactions`): each
a fixed function of the message's key and the seed. Nothing here reaches the
journeys: no bounce, no complaint, no unsubscribe. A model without `messages:`
reports nothing back.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from journeys.store.feedback.surveys import SCORE_RANGES

from ..demo_reactions import Reactions
from .model_data import Probability

SurveyKind = Literal["csat", "nps"]
TemplateName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=128)]
Shares = dict[TemplateName, Probability]


def _default_scores() -> dict[SurveyKind, list[int]]:
    return {"csat": [3, 4, 4, 5, 5], "nps": [6, 7, 8, 9, 9, 10]}


class MessageModel(BaseModel):
    """What customers do with the messages they get (shares by template, `default`
    for the templates not named)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delivered: Probability = Field(1.0, description="of emails and SMS sent")
    opened: Shares = Field(default_factory=lambda: {"default": 0.45})
    clicked: Shares = Field(default_factory=lambda: {"default": 0.25})
    surveys: dict[TemplateName, SurveyKind] = Field(default_factory=dict)
    answered: Shares = Field(default_factory=lambda: {"default": 0.6})
    scores: dict[SurveyKind, Annotated[list[int], Field(min_length=1, max_length=100)]] = Field(
        default_factory=_default_scores
    )

    @field_validator("scores")
    @classmethod
    def _scales(
        cls, scores: dict[SurveyKind, list[int]], info: ValidationInfo
    ) -> dict[SurveyKind, list[int]]:
        for kind, drawn in scores.items():
            low, high = SCORE_RANGES[kind]
            wrong = [s for s in drawn if not low <= s <= high]
            if wrong:
                raise ValueError(f"a {kind} score is {low} to {high}, not {wrong[0]}")
        missing = sorted(set(info.data.get("surveys", {}).values()) - set(scores))
        if missing:
            raise ValueError(f"surveys of kind {missing[0]} need scores to draw from")
        return scores

    def reactions(self, seed: int) -> Reactions:
        """The demo's reactions with this model's shares, drawn for `seed`."""
        return Reactions(
            delivered=self.delivered,
            opened=self.opened,
            clicked=self.clicked,
            surveys=self.surveys,
            answered=self.answered,
            scores={kind: tuple(scores) for kind, scores in self.scores.items()},
            salt=f"{seed}/",
        )
