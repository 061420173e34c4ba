"""Dishes, daily menus and meal sets.

A menu belongs to the site that *cooks*: a canteen, a partner restaurant, or a central
kitchen whose menu its satellite points share (see ``menus.services.menu_for``).
(site, service_date, slot) is unique and (menu, name) is unique: raw indexes in a
migration of their own (SQLite cannot add composite constraints, see NOTES).
"""

from piccolo.columns import JSON, Boolean, Date, ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table

from canteen.regions.tables import District, Site


class Dish(Table, tablename="dish"):
    """A dish a district's kitchens cook, with the diet tags it satisfies and its allergens."""

    id: Serial
    district = ForeignKey(District, index=True)
    name = Varchar(length=100)
    diet_tags = JSON(default="[]")  # canteen.core.categories.DIET_TAGS codes
    allergens = JSON(default="[]")  # allergen group codes, canteen.core.categories.ALLERGENS
    allergen_note = Varchar(length=200, default="")  # what the codes do not say (free words)
    texture_level = Integer(null=True, default=None)  # IDDSI 0-7; None = regular (7)
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class DailyMenu(Table, tablename="daily_menu"):
    """What one cooking site serves on one service day in one slot."""

    id: Serial
    site = ForeignKey(Site, index=True)
    service_date = Date()
    slot = Varchar(length=12)  # canteen.core.categories.SLOTS
    cutoff_at = Timestamptz()  # last moment to order this menu for delivery
    published = Boolean(default=True)
    updated_at = Timestamptz()
    updated_by = Integer(null=True, default=None)


class MealSet(Table, tablename="meal_set"):
    """A priced set (套餐A …) on a menu. ``portions_available`` None means unlimited;
    ``portions_sold`` only moves through one conditional UPDATE (take/release_portion)."""

    id: Serial
    menu = ForeignKey(DailyMenu, index=True)
    name = Varchar(length=50)
    list_price_fen = Integer()
    dish_ids = JSON(default="[]")
    diet_tags = JSON(default="[]")  # intersection of the dishes' tags: see menus.services
    allergens = JSON(default="[]")  # union of the dishes' allergen codes: see menus.rules
    texture_level = Integer(null=True, default=None)  # the coarsest dish's IDDSI level: menus.rules
    meal_type = Varchar(length=20, default="standard")  # canteen.subsidies.schemas.MEAL_TYPES
    portions_available = Integer(null=True, default=None)
    portions_sold = Integer(default=0)
    sort_order = Integer(default=0)
