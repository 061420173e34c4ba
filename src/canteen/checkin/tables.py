"""The log of every counter outcome (the meals themselves belong to ``canteen.meals``)."""

from piccolo.columns import JSON, Boolean, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table


class CounterEvent(Table, tablename="counter_event"):
    """Every outcome at a counter, refusals included (pretix logs every check-in attempt)."""

    id: Serial
    at = Timestamptz(index=True)
    site = Integer(index=True)
    elder = Integer(null=True, default=None)
    outcome = Varchar(length=10)  # ok | refused | void | topup
    code = Varchar(length=40, default="")
    meal = Integer(null=True, default=None)
    actor_id = Integer(null=True, default=None)
    device = Varchar(length=100, default="")
    detail = JSON(default="{}")
    manual = Boolean(default=False)
