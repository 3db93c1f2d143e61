"""The data layer every other part stands on: configuration, one database's state (``Database``),
where statements go (``db``), models, SQL, migrations, the settings cache, the outbox."""
