"""The counter: scan → quote → meal + payment, exactly once."""
