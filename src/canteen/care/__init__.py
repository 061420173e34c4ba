"""Care around the meal: welfare visit plans and visits (巡访关爱), volunteers' hours, and the
civil-affairs lists (deceased, moved, in hospital) with what follows from them."""
