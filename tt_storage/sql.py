"""Every hand-written statement, named, once. Parameters only: never formatted into the text.

Every INSERT names all its columns: a database adopted from the seed has no server defaults.
"""

from __future__ import annotations

_USER_COLUMNS = "user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown, blocked_at"

# --- users -------------------------------------------------------------------------------------

SELECT_USER = "SELECT " + _USER_COLUMNS + " FROM users WHERE user_id = $1"

# blocked_at rides along for free: the middleware unblocks a chat that writes again.
SELECT_SETTINGS = "SELECT lang, file_mode, blocked_at FROM users WHERE user_id = $1"

# $1 id, $2 now, $3 lang, $4 link. One statement that always returns the stored row: on a
# conflict the no-op update (of a column no trigger watches) locks and returns the winner's
# row, where DO NOTHING would return nothing and need a second SELECT.
REGISTER_USER = (
    "INSERT INTO users AS u (" + _USER_COLUMNS + ") VALUES ($1, $2, $3, $4, false, 0, 0, NULL) "
    "ON CONFLICT (user_id) DO UPDATE SET registered_at = u.registered_at "
    "RETURNING " + _USER_COLUMNS + ", (xmax = 0) AS inserted"
)

UPDATE_MODE = "UPDATE users SET file_mode = $2 WHERE user_id = $1"

UPDATE_LANG = "UPDATE users SET lang = $2 WHERE user_id = $1"

TOGGLE_MODE = "UPDATE users SET file_mode = NOT file_mode WHERE user_id = $1 RETURNING file_mode"

# --- blocked and left chats: $1 id, $2 now. The first block time is kept. -----------------------

MARK_BLOCKED = "UPDATE users SET blocked_at = COALESCE(blocked_at, $2) WHERE user_id = $1"

MARK_UNBLOCKED = "UPDATE users SET blocked_at = NULL WHERE user_id = $1"

# --- group -> supergroup migration: $1 old id, $2 new id -----------------------------------------

# First statement of the migration transaction: waits for downloads in flight for the old id
# (their foreign-key check holds KEY SHARE) and keeps new ones out until commit. Both rows are
# locked in id order, as the outbox's replay does, so the two cannot deadlock. Without the old
# id among the rows, it is unknown or already migrated.
LOCK_CHATS = (
    "SELECT user_id FROM users WHERE user_id = ANY($1::bigint[]) ORDER BY user_id FOR UPDATE"
)

# Second statement (a fresh snapshot, so it sees every download committed before the lock).
# The new id gets the old row's settings, referral, registration and ad state; if the new id is
# already registered (the supergroup's first update came first) the old row's values win and the
# new row keeps only its blocked_at -- unless the old row is younger than the new one, which
# means it was re-created after the migration by a late update, and so holds only defaults.
# History moves by the (user_id, downloaded_at) indexes; the old row goes last. Foreign keys are
# checked at the end of the statement, when every part is done.
_KEEP_OLD = (
    "(u.registered_at IS NULL OR EXCLUDED.registered_at IS NULL"
    " OR EXCLUDED.registered_at <= u.registered_at)"
)
MIGRATE_CHAT = (
    "WITH old AS (SELECT " + _USER_COLUMNS + " FROM users WHERE user_id = $1), "
    "merged AS (INSERT INTO users AS u (" + _USER_COLUMNS + ") "
    "SELECT $2, registered_at, lang, link, file_mode, ad_count, ad_cooldown, blocked_at FROM old "
    "ON CONFLICT (user_id) DO UPDATE SET "
    + ", ".join(
        f"{c} = CASE WHEN {_KEEP_OLD} THEN EXCLUDED.{c} ELSE u.{c} END"
        for c in ("registered_at", "lang", "link", "file_mode", "ad_count", "ad_cooldown")
    )
    + " RETURNING 1), "
    "v AS (UPDATE videos SET user_id = $2 WHERE user_id = $1 RETURNING 1), "
    "m AS (UPDATE music SET user_id = $2 WHERE user_id = $1 RETURNING 1), "
    "gone AS (DELETE FROM users WHERE user_id = $1 RETURNING 1) "
    "SELECT EXISTS (SELECT 1 FROM gone) AS migrated,"
    " (SELECT count(*) FROM v) AS videos, (SELECT count(*) FROM m) AS music"
)

# --- the ad rule: $1 id, $2 now, $3 downloads between ads, $4 cooldown seconds ----------------

SHOULD_SHOW_AD = "SELECT ad_count >= $3 OR ad_cooldown < $2 FROM users WHERE user_id = $1"

# $3 cooldown seconds.
RECORD_AD_SHOW = (
    "UPDATE users SET ad_count = 1, ad_cooldown = $2::bigint + $3::bigint WHERE user_id = $1"
)

INCREASE_AD_COUNT = "UPDATE users SET ad_count = ad_count + 1 WHERE user_id = $1"

# Decide on the locked, latest row version, then apply that decision: concurrent claims queue
# on the row lock, so each sees the previous one's effect (PostgreSQL 15 has no RETURNING OLD).
CLAIM_AD_SLOT = (
    "WITH cur AS ("
    " SELECT user_id, (ad_count >= $3 OR ad_cooldown < $2) AS show"
    " FROM users WHERE user_id = $1 FOR NO KEY UPDATE) "
    "UPDATE users u SET"
    " ad_count = CASE WHEN cur.show THEN 1 ELSE u.ad_count + 1 END,"
    " ad_cooldown = CASE WHEN cur.show THEN $2::bigint + $4::bigint ELSE u.ad_cooldown END "
    "FROM cur WHERE u.user_id = cur.user_id RETURNING cur.show"
)

# --- tracking ------------------------------------------------------------------------------------

# Registers an unknown chat (defaults; with the ad rule on, its first download shows an ad)
# in the same statement as the download, so the row can never be lost to the foreign key.
# $1 id, $2 now, $3 default lang, $4 apply the ad rule, $5 every, $6 cooldown.
_REGISTER_FOR_DOWNLOAD = (
    "reg AS (INSERT INTO users (" + _USER_COLUMNS + ") VALUES ($1, $2, $3, NULL, false,"
    " CASE WHEN $4::boolean THEN 1 ELSE 0 END,"
    " CASE WHEN $4::boolean THEN $2::bigint + $6::bigint ELSE 0 END, NULL)"
    " ON CONFLICT (user_id) DO NOTHING RETURNING $4::boolean AS show), "
    "cur AS (SELECT user_id, (ad_count >= $5 OR ad_cooldown < $2) AS show"
    " FROM users WHERE user_id = $1 AND $4 FOR NO KEY UPDATE), "
    "ad AS (UPDATE users u SET"
    " ad_count = CASE WHEN cur.show THEN 1 ELSE u.ad_count + 1 END,"
    " ad_cooldown = CASE WHEN cur.show THEN $2::bigint + $6::bigint ELSE u.ad_cooldown END"
    " FROM cur WHERE u.user_id = cur.user_id RETURNING cur.show), "
)
# The result: `registered` (this statement made the chat), `show` (the ad decision; never true
# when the rule was off; NULL when the chat appeared concurrently after this statement's snapshot).
_DOWNLOAD_RESULT = (
    "SELECT EXISTS (SELECT 1 FROM reg) AS registered,"
    " COALESCE((SELECT show FROM reg), (SELECT show FROM ad)) AS show"
)

# $7 link, $8 is_images, $9 is_processed, $10 is_inline.
TRACK_VIDEO = (
    "WITH " + _REGISTER_FOR_DOWNLOAD + "ins AS (INSERT INTO videos"
    " (user_id, downloaded_at, video_link, is_images, is_processed, is_inline)"
    " VALUES ($1, $2, $7, $8, $9, $10)) " + _DOWNLOAD_RESULT
)

# $7 video_id.
TRACK_MUSIC = (
    "WITH " + _REGISTER_FOR_DOWNLOAD + "ins AS (INSERT INTO music"
    " (user_id, downloaded_at, video_id) VALUES ($1, $2, $7)) " + _DOWNLOAD_RESULT
)

# --- reads and stats -----------------------------------------------------------------------------

USER_STATS = (
    "SELECT " + ", ".join("u." + c for c in _USER_COLUMNS.split(", ")) + ", s.videos, s.images "
    "FROM users u CROSS JOIN LATERAL (SELECT count(*) AS videos,"
    " count(*) FILTER (WHERE v.is_images) AS images FROM videos v WHERE v.user_id = u.user_id) s "
    "WHERE u.user_id = $1"
)

# $1 since (NULL = all time, rows without a timestamp included), $2..$3 the chat id range.
STATS_BY_PERIOD = (
    "SELECT downloaded_at, video_link FROM videos "
    "WHERE ($1::bigint IS NULL OR downloaded_at >= $1) AND user_id BETWEEN $2 AND $3 "
    "ORDER BY pk_id"
)

REFERRAL_STATS = (
    "SELECT link, count(*) AS n FROM users WHERE link IS NOT NULL "
    "GROUP BY link ORDER BY n DESC, link LIMIT $1"
)

FILE_MODE_COUNT = "SELECT count(*) FROM users WHERE file_mode"

LANGUAGE_STATS = "SELECT lang, count(*) AS n FROM users GROUP BY lang ORDER BY n DESC, lang"

TOP_USERS = (
    "SELECT user_id, count(*) AS n FROM videos GROUP BY user_id ORDER BY n DESC, user_id LIMIT $1"
)

# Keyset page: $1 exclusive lower bound, $2 inclusive upper bound, $3 page size.
USER_IDS_PAGE = (
    "SELECT user_id FROM users WHERE user_id > $1 AND user_id <= $2 ORDER BY user_id LIMIT $3"
)

# The same, without blocked and left chats (a filter on the primary-key scan).
ACTIVE_USER_IDS_PAGE = (
    "SELECT user_id FROM users WHERE user_id > $1 AND user_id <= $2 AND blocked_at IS NULL "
    "ORDER BY user_id LIMIT $3"
)

# Streamed through a cursor; NULL timestamps (old tt-bot rows) count as oldest.
USER_VIDEOS = (
    "SELECT downloaded_at, video_link FROM videos WHERE user_id = $1 "
    "ORDER BY downloaded_at NULLS FIRST, pk_id"
)
