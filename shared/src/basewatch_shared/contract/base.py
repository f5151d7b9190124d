"""The base of the contract's models."""

from pydantic import BaseModel, ConfigDict


class ContractModel(BaseModel):
    """Frozen, finite numbers only, and inputs never echoed in validation errors.

    Subclasses add to this configuration (pydantic merges it); inherited rather than
    shared through a variable, so that the pydantic mypy plugin sees ``frozen=True``.
    """

    model_config = ConfigDict(
        frozen=True,
        allow_inf_nan=False,
        hide_input_in_errors=True,  # str(ValidationError) may be logged; inputs hold PII
    )
