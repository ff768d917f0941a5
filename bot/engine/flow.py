"""The flow document as NGO staff write it (validated with pydantic), and its special states.

A flow file, in short::

    flow: first_contact
    default_locale: ja
    start: welcome
    human_state: handoff          # where "talk to a person" leads, from anywhere
    handoff_return: after_handoff # where the bot picks up when a counsellor closes
    interrupts:                   # tried first, from every state, in this order
      - {name: crisis, intent: crisis, target: crisis}
      - {name: english, intent: lang_en, set_locale: en}
    intents:                      # tried after the state's own routes
      - {intent: evidence_question, target: evidence_start}
    states:
      welcome:
        tags: [welcome]
        say: [welcome.hello]      # locale keys, never literal text
        links: [yorisoi]          # entries of resources.yaml shown as tel:/https: links
        choices:
          - {id: threatened, label: choice.threatened, target: reassure, set: {situation: threat}}
        ack: threatened           # what "うん" / "ok" means here (optional)
        routes:
          - {intent: threat_spread, target: reassure}
        fallback: welcome.fallback   # optional; else the flow's texts.fallback
      reassure:
        say: [reassure.not_your_fault]
        next: law                 # says its text, then moves on by itself
      law:
        branch: {var: age_band, cases: {u16: law_u16}, default: law_general}
      feeling_scared:
        say: [feelings.scared]
        say_again: [feelings.scared_short]   # when entered a second time
        choices:
          - {id: continue, label: choice.continue, target: "@resume"}   # back to where they were
      goodbye:
        end: true                 # a deliberate end: the next message starts again
        effects: [end]
    aliases:                      # a renamed state's old name (people inside it, old buttons)
      old_goodbye: goodbye
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

# Special names, never spelled out as bare strings elsewhere.
START = "start"                  # `matched` value of a first-contact turn
FALLBACK = "fallback"            # `matched` value when nothing was understood
HUMAN_CHOICE_ID = "talk_to_person"  # choice the fallback adds; resolves to human_state anywhere
RESUME = "@resume"               # a choice target: back to what the person was doing before a detour
ACK = "ack"                      # `matched` value of an acknowledgement answered with the state's buttons
OTHER_LANGUAGE = "other_language"  # `matched` value of a message in a language the bot does not speak
EFFECT_TYPES = ("handoff", "forget_me", "set_locale", "end")

NAME_PATTERN = r"^[A-Za-z0-9_\-]+$"
KEY_PATTERN = r"^[A-Za-z0-9_\-.]+$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChoiceDoc(_Model):
    id: str = Field(pattern=NAME_PATTERN, max_length=40)
    label: str = Field(pattern=KEY_PATTERN)
    target: str
    set: dict[str, str] = Field(default_factory=dict)


class RouteDoc(_Model):
    intent: str = Field(pattern=NAME_PATTERN)
    target: str
    set: dict[str, str] = Field(default_factory=dict)


class InterruptDoc(_Model):
    name: str = Field(pattern=NAME_PATTERN)
    intent: str = Field(pattern=NAME_PATTERN)
    # No target: the person stays where they are and hears the state again (e.g. a language switch).
    target: str | None = None
    set_locale: str | None = None


class BranchDoc(_Model):
    var: str
    cases: dict[str, str]
    default: str


class EffectDoc(_Model):
    type: Literal["handoff", "forget_me", "set_locale", "end"]
    locale: str | None = None


class StateDoc(_Model):
    say: list[str] = Field(default_factory=list)
    say_again: list[str] = Field(default_factory=list)  # instead of `say` when entered before
    ack: str | None = None  # the choice "うん" / "ok" takes in this state
    tags: list[str] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list)
    choices: list[ChoiceDoc] = Field(default_factory=list)
    routes: list[RouteDoc] = Field(default_factory=list)
    fallback: str | None = None
    next: str | None = None
    branch: BranchDoc | None = None
    effects: list[EffectDoc] = Field(default_factory=list)
    end: bool = False

    @field_validator("effects", mode="before")
    @classmethod
    def _effect_shorthand(cls, value: Any) -> Any:
        # Staff may write `effects: [handoff]` instead of `[{type: handoff}]`.
        if isinstance(value, list):
            return [{"type": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("say", "say_again", "tags", "links", mode="before")
    @classmethod
    def _single_to_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_way_on(self) -> "StateDoc":
        if self.next and self.branch:
            raise PydanticCustomError("next_and_branch", "a state can have `next` or `branch`, not both")
        return self


class ModelDoc(_Model):
    """Where the understanding model (flows/understanding_model.json) may send a message that the
    keywords did not catch: a message that reads like a crisis gets ``crisis`` (the direct
    question), one that reads like harm happening now gets ``emergency``."""

    crisis: str | None = None
    emergency: str | None = None


class FlowTexts(_Model):
    fallback: str = "system.fallback"
    welcome_back: str = "system.welcome_back"
    intro: str = "system.intro"
    media: str = "system.media"
    sticker: str = "system.sticker"
    location: str = "system.location"
    choice_human: str = "system.choice_human"
    open_now: str = "system.open_now"
    closed_now: str = "system.closed_now"
    error: str = "system.error"
    fallback_again: str = "system.fallback_again"
    ack: str = "system.ack"


class FlowDoc(_Model):
    flow: str = Field(pattern=NAME_PATTERN)
    default_locale: str = "ja"
    start: str
    human_state: str
    handoff_return: str | None = None
    resume_default: str | None = None   # where "@resume" leads when there is nothing to resume
    other_language: str | None = None   # the state for a language the bot does not speak
    ack_intent: str = "ack"             # the intent of acknowledgements ("うん", "ok", "👍")
    model: ModelDoc = Field(default_factory=ModelDoc)
    expiry_hours: float = Field(default=24, gt=0)
    max_auto_moves: int = Field(default=8, ge=1, le=50)
    texts: FlowTexts = Field(default_factory=FlowTexts)
    interrupts: list[InterruptDoc] = Field(default_factory=list)
    intents: list[RouteDoc] = Field(default_factory=list)
    # Old names of renamed states -> their new name: a person inside a state when it was renamed,
    # and a button sent before, continue at the new name (the console's editor writes these).
    aliases: dict[str, str] = Field(default_factory=dict)
    states: dict[str, StateDoc]

    @field_validator("states")
    @classmethod
    def _state_names(cls, value: dict[str, StateDoc]) -> dict[str, StateDoc]:
        import re

        for name in value:
            if not re.match(NAME_PATTERN, str(name)):
                raise PydanticCustomError("state_name", 'state name "{name}" may use only letters, digits, "_" and "-"',
                                          {"name": str(name)})
        return value
