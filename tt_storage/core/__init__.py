"""The data layer every other part stands on: configuration, pools, models, SQL, lifecycle."""
