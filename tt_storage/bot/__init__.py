"""The aiogram side: the middleware, UserSettings per update, FSM storage, block tracking, i18n."""
