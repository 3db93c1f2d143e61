"""Every hand-written statement, named, once. Parameters only: never formatted into the text.

Every INSERT names all its columns: a database adopted from the seed has no server defaults.
The values of the columns an INSERT is not given are the models' defaults (``_user_row``).

One module on purpose, over the ~450 lines a module is kept to elsewhere: a reader looking for
a query finds every one here, grouped by concern below, and tests/test_contract.py checks them
all against the models in one place.
"""

from __future__ import annotations

from .columns import columns
from .models import Users

_USER_COLUMNS = "user_id, registered_at, lang, link, file_mode, ad_count, ad_cooldown, blocked_at"
_USERS = columns(Users)


def _default(column: str) -> str:
    """What the server would fill in for ``users.<column>``, as an SQL literal."""
    return _USERS[column].omitted_value()


#: The functions here that render the models' defaults as SQL literals: all that goes into a
#: statement besides constant text (tests/test_security.py holds every statement to that).
MODEL_LITERALS = ("_default", "_user_row")


def _user_row(**given: str) -> str:
    """The values of an INSERT into ``_USER_COLUMNS``: the ``given`` ones by column, the model's
    default for every other column."""
    return ", ".join(given.get(name) or _default(name) for name in _USER_COLUMNS.split(", "))


# The settings cache's heartbeat on its LISTEN connection: the cheapest round trip there is.
PING = "SELECT 1"

# The chat a write for $1 goes to: its successor if it was migrated (group -> supergroup), else
# itself. Writes that create rows resolve it in their own statement; one whose snapshot predates
# a migration's commit fails with a foreign-key violation (the old row is gone, or the trigger
# of migration 8 refuses to re-create it) and is re-run, resolving again (db.fetchrow_resolved).
_RESOLVED = "coalesce((SELECT new_id FROM tt_storage_chat_migrations WHERE old_id = $1), $1)"

# --- users -------------------------------------------------------------------------------------

SELECT_USER = "SELECT " + _USER_COLUMNS + " FROM users WHERE user_id = $1"

# blocked_at rides along for free: the middleware unblocks a chat that writes again.
SELECT_SETTINGS = "SELECT lang, file_mode, blocked_at FROM users WHERE user_id = $1"

# The middleware's first read of a chat on a day: the same, and the chat recorded active on the
# day starting at $2 (the row held KEY SHARE until commit: see RECORD_ACTIVITY).
SELECT_SETTINGS_ACTIVE = (
    "WITH s AS (SELECT lang, file_mode, blocked_at, registered_at FROM users WHERE user_id = $1"
    " FOR KEY SHARE), "
    "act AS (INSERT INTO tt_storage_activity (day, chat_id, registered_at, previous_day)"
    " SELECT $2, $1, registered_at, (SELECT max(b.day) FROM tt_storage_activity AS b"
    " WHERE b.chat_id = $1) FROM s"
    " WHERE NOT EXISTS (SELECT 1 FROM tt_storage_activity AS b"
    " WHERE b.chat_id = $1 AND b.day >= $2::bigint)"
    " ON CONFLICT (day, chat_id) DO NOTHING) "
    "SELECT lang, file_mode, blocked_at FROM s"
)

# $1 id, $2 now, $3 lang, $4 link. One statement that always returns the stored row: on a
# conflict the no-op update (of a column no trigger watches) locks and returns the winner's
# row, where DO NOTHING would return nothing and need a second SELECT. A migrated id returns
# (or registers) its successor's row.
_REGISTER = (
    "INSERT INTO users AS u (" + _USER_COLUMNS + ") "
    "SELECT " + _user_row(user_id="id", registered_at="$2", lang="$3", link="$4") + " FROM chat "
    "ON CONFLICT (user_id) DO UPDATE SET registered_at = u.registered_at "
    "RETURNING " + _USER_COLUMNS + ", (xmax = 0) AS inserted"
)
REGISTER_USER = "WITH chat AS (SELECT " + _RESOLVED + " AS id) " + _REGISTER

# The middleware's: the same, and a chat it made recorded active on the day starting at $5, in the
# same statement (the new row is locked until commit: see RECORD_ACTIVITY). Only the update that
# made the chat writes, so a burst of a new chat's first updates writes one row, once.
REGISTER_ACTIVE_USER = (
    "WITH chat AS (SELECT " + _RESOLVED + " AS id), reg AS (" + _REGISTER + "), "
    "act AS (INSERT INTO tt_storage_activity (day, chat_id, registered_at, previous_day)"
    " SELECT $5, user_id, registered_at, NULL FROM reg WHERE inserted"
    " ON CONFLICT (day, chat_id) DO NOTHING) "
    "SELECT * FROM reg"
)

UPDATE_MODE = "UPDATE users SET file_mode = $2 WHERE user_id = $1"

UPDATE_LANG = "UPDATE users SET lang = $2 WHERE user_id = $1"

TOGGLE_MODE = "UPDATE users SET file_mode = NOT file_mode WHERE user_id = $1 RETURNING file_mode"

# --- blocked and left chats: $1 id, $2 now. The first block time is kept. -----------------------

MARK_BLOCKED = "UPDATE users SET blocked_at = COALESCE(blocked_at, $2) WHERE user_id = $1"

MARK_UNBLOCKED = "UPDATE users SET blocked_at = NULL WHERE user_id = $1"

# --- group -> supergroup migration: $1 old id, $2 new id, $3 now ---------------------------------

# Locks chats' rows in id order: waits for downloads in flight for them (their foreign-key
# check holds KEY SHARE) and keeps new ones out until commit. The first statement of the
# migration transaction (without the old id among the rows, it is unknown or already migrated),
# and of the outbox's check for writes whose outcome is unknown: the same order, no deadlock.
LOCK_CHATS = (
    "SELECT user_id FROM users WHERE user_id = ANY($1::bigint[]) ORDER BY user_id FOR UPDATE"
)

# Second statement (a fresh snapshot, so it sees every download committed before the lock).
# The new id gets the old row's settings, referral, registration and ad state; if the new id is
# already registered (the supergroup's first update came first) the old row's values win and the
# new row keeps only its blocked_at -- unless the old row is younger than the new one, which
# means it was re-created after the migration by a late update (possible before migration 8),
# and so holds only defaults.
# History moves by the (user_id, downloaded_at) indexes; the old row goes last. Foreign keys are
# checked at the end of the statement, when every part is done. The move is recorded (old ->
# new; chats that had become the old id now become the new one; the new id, alive again, is no
# longer a migrated id), so later writes for the old id resolve to the new one.
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
    "gone AS (DELETE FROM users WHERE user_id = $1 RETURNING 1), "
    "chain AS (UPDATE tt_storage_chat_migrations SET new_id = $2"
    " WHERE new_id = $1 AND old_id <> $2), "
    "revived AS (DELETE FROM tt_storage_chat_migrations WHERE old_id = $2), "
    "mapped AS (INSERT INTO tt_storage_chat_migrations (old_id, new_id, migrated_at)"
    " VALUES ($1, $2, $3) ON CONFLICT (old_id) DO UPDATE"
    " SET new_id = EXCLUDED.new_id, migrated_at = EXCLUDED.migrated_at) "
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

# Decide and apply in one UPDATE: its SET sees the latest row version (a concurrent claim's
# effect included: they queue on the row), and the decision comes back through the new row: an
# ad leaves the counter at 1 and the cooldown at now + cooldown (PostgreSQL 15 has no RETURNING
# OLD). A download without one leaves the same only from a counter of 0 whose cooldown ends at
# exactly that second, which nothing writes (an ad sets the counter to 1).
# No separate SELECT ... FOR NO KEY UPDATE step: locking the latest version first and then
# updating the row as the snapshot saw it deadlocked (docs/RELIABILITY.md, "The deadlock").
# The chat resolves as the downloads do: a claim for a migrated id applies to its successor.
CLAIM_AD_SLOT = (
    "UPDATE users SET"
    " ad_count = CASE WHEN ad_count >= $3 OR ad_cooldown < $2 THEN 1"
    " ELSE ad_count + 1 END,"
    " ad_cooldown = CASE WHEN ad_count >= $3 OR ad_cooldown < $2"
    " THEN $2::bigint + $4::bigint ELSE ad_cooldown END "
    "WHERE user_id = "
    + _RESOLVED
    + " RETURNING ad_count = 1 AND ad_cooldown = $2::bigint + $4::bigint"
)

# --- tracking ------------------------------------------------------------------------------------

# Resolves the chat (a migrated id goes to its successor) and registers it if unknown
# (defaults; with the ad rule on, its first download shows an ad) in the same statement as the
# download, so the row can never be lost to the foreign key.
# $1 id, $2 now, $3 default lang, $4 apply the ad rule, $5 every, $6 cooldown.
_CHAT = "chat AS (SELECT " + _RESOLVED + " AS id), "
# A chat registered with the ad rule on is shown an ad at once: its counter and cooldown start as
# after one (RECORD_AD_SHOW). Without the rule, the defaults.
_NEW_AD_COUNT = "CASE WHEN $4::boolean THEN 1 ELSE " + _default("ad_count") + " END"
_NEW_AD_COOLDOWN = (
    "CASE WHEN $4::boolean THEN $2::bigint + $6::bigint ELSE " + _default("ad_cooldown") + " END"
)
_REGISTER_FOR_DOWNLOAD = (
    _CHAT
    + "reg AS (INSERT INTO users ("
    + _USER_COLUMNS
    + ") SELECT "
    + _user_row(
        user_id="id",
        registered_at="$2",
        lang="$3",
        ad_count=_NEW_AD_COUNT,
        ad_cooldown=_NEW_AD_COOLDOWN,
    )
    + " FROM chat ON CONFLICT (user_id) DO NOTHING RETURNING $4::boolean AS show), "
    # The ad rule as in CLAIM_AD_SLOT: one UPDATE, the decision read from the new counter.
    "ad AS (UPDATE users SET"
    " ad_count = CASE WHEN ad_count >= $5 OR ad_cooldown < $2 THEN 1"
    " ELSE ad_count + 1 END,"
    " ad_cooldown = CASE WHEN ad_count >= $5 OR ad_cooldown < $2"
    " THEN $2::bigint + $6::bigint ELSE ad_cooldown END"
    " WHERE user_id = (SELECT id FROM chat) AND $4"
    " RETURNING ad_count = 1 AND ad_cooldown = $2::bigint + $6::bigint AS show), "
)
# The result: `registered` (this statement made the chat), `show` (the ad decision; never true
# when the rule was off; NULL when the chat appeared concurrently after this statement's
# snapshot), `chat` (the id written to).
_DOWNLOAD_RESULT = (
    "SELECT EXISTS (SELECT 1 FROM reg) AS registered,"
    " COALESCE((SELECT show FROM reg), (SELECT show FROM ad)) AS show,"
    " (SELECT id FROM chat) AS chat"
)

_VIDEO_COLUMNS = (
    "user_id, downloaded_at, video_link, is_images, is_processed, is_inline, media_id, cache_hit"
)


# The media cache entry a linked download names (its media_id parameter): counted as used, its
# last_used_at moved on when over an hour old (so most bumps change no indexed column and stay
# HOT updates). (SELECT id FROM media) is the link to write: NULL if the entry was pruned
# meanwhile. Only the *_LINKED statements have it: a data-modifying CTE costs its setup (tens of
# µs) even when it matches nothing.
# ..._MEDIA_BUMP + "$n" + _MEDIA_END: the CTE for media_id parameter $n.
_MEDIA_BUMP = (
    "media AS (UPDATE tt_storage_media SET use_count = use_count + 1,"
    " last_used_at = CASE WHEN last_used_at < $2::bigint - 3600 THEN $2::bigint"
    " ELSE last_used_at END WHERE id = "
)
_MEDIA_END = "::bigint RETURNING id), "
_LINK = "(SELECT id FROM media)"

# A download with the ad rule. $7 link, $8 is_images, $9 is_processed, $10 is_inline,
# $11 media_id (NULL here: a linked download is TRACK_VIDEO_LINKED), $12 cache_hit.
TRACK_VIDEO = (
    "WITH " + _REGISTER_FOR_DOWNLOAD + "ins AS (INSERT INTO videos (" + _VIDEO_COLUMNS + ")"
    " SELECT id, $2, $7, $8, $9, $10, $11::bigint, $12::boolean FROM chat) " + _DOWNLOAD_RESULT
)
TRACK_VIDEO_LINKED = (
    "WITH " + _REGISTER_FOR_DOWNLOAD + _MEDIA_BUMP + "$11" + _MEDIA_END
    + "ins AS (INSERT INTO videos (" + _VIDEO_COLUMNS + ")"
    " SELECT id, $2, $7, $8, $9, $10, " + _LINK + ", $12::boolean FROM chat) " + _DOWNLOAD_RESULT
)  # fmt: skip

# Without the ad rule (groups, inline, music): no row lock on the chat, a third less work.
# $1 id, $2 now, $3 default lang; same result columns as TRACK_VIDEO, `show` always false.
_REGISTER_UNKNOWN = (
    _CHAT + "reg AS (INSERT INTO users (" + _USER_COLUMNS + ") "
    "SELECT " + _user_row(user_id="id", registered_at="$2", lang="$3") + " FROM chat"
    " ON CONFLICT (user_id) DO NOTHING RETURNING 1), "
)
_PLAIN_RESULT = (
    "SELECT EXISTS (SELECT 1 FROM reg) AS registered, false AS show, (SELECT id FROM chat) AS chat"
)

# $4 link, $5 is_images, $6 is_processed, $7 is_inline, $8 media_id, $9 cache_hit.
ADD_VIDEO = (
    "WITH " + _REGISTER_UNKNOWN + "ins AS (INSERT INTO videos (" + _VIDEO_COLUMNS + ")"
    " SELECT id, $2, $4, $5, $6, $7, $8::bigint, $9::boolean FROM chat) " + _PLAIN_RESULT
)
ADD_VIDEO_LINKED = (
    "WITH " + _REGISTER_UNKNOWN + _MEDIA_BUMP + "$8" + _MEDIA_END + "ins AS (INSERT INTO videos ("
    + _VIDEO_COLUMNS + ") SELECT id, $2, $4, $5, $6, $7, " + _LINK + ", $9::boolean"
    " FROM chat) " + _PLAIN_RESULT
)  # fmt: skip

# $4 video_id, $5 media_id, $6 cache_hit.
_MUSIC_INSERT = "ins AS (INSERT INTO music (user_id, downloaded_at, video_id, media_id, cache_hit)"
ADD_MUSIC = (
    "WITH " + _REGISTER_UNKNOWN + _MUSIC_INSERT
    + " SELECT id, $2, $4, $5::bigint, $6::boolean FROM chat) " + _PLAIN_RESULT
)  # fmt: skip
ADD_MUSIC_LINKED = (
    "WITH " + _REGISTER_UNKNOWN + _MEDIA_BUMP + "$5" + _MEDIA_END + _MUSIC_INSERT
    + " SELECT id, $2, $4, " + _LINK + ", $6::boolean FROM chat) " + _PLAIN_RESULT
)  # fmt: skip

# --- reads and stats -----------------------------------------------------------------------------

# Two counts, each from an index alone (idx_videos_user_time, the partial idx_videos_user_images):
# a heavy chat's 10^5 downloads cost index pages, not one random heap page per row.
USER_STATS = (
    "SELECT " + ", ".join("u." + c for c in _USER_COLUMNS.split(", ")) + ","
    " (SELECT count(*) FROM videos v WHERE v.user_id = u.user_id) AS videos,"
    " (SELECT count(*) FROM videos v WHERE v.user_id = u.user_id AND v.is_images) AS images "
    "FROM users u WHERE u.user_id = $1"
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

# --- the outbox's replay (tt_storage.core.replay): one transaction per batch, arrays as parameters

# First: where the batch's chats went if they were migrated. $1 ids.
OUTBOX_RESOLVE = (
    "SELECT old_id, new_id FROM tt_storage_chat_migrations WHERE old_id = ANY($1::bigint[])"
)

# Chats first seen during an outage: $1 ids (sorted), $2 first download times, $3 langs, $4 links.
OUTBOX_REGISTER = (
    "INSERT INTO users (" + _USER_COLUMNS + ") "
    "SELECT "
    + _user_row(user_id="c.id", registered_at="c.at", lang="c.lang", link="c.link")
    + " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS c(id, at, lang, link)"
    " ORDER BY c.id ON CONFLICT (user_id) DO NOTHING"
)

# How many rows match each event's natural key. $1 positions, then the key columns.
OUTBOX_VIDEOS_FOUND = (
    "SELECT k.i, (SELECT count(*) FROM videos v WHERE v.user_id = k.chat"
    " AND v.downloaded_at = k.at AND v.video_link = k.link AND v.is_images = k.img"
    " AND v.is_processed = k.proc AND v.is_inline = k.inl) AS n"
    " FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::text[], $5::boolean[],"
    " $6::boolean[], $7::boolean[]) AS k(i, chat, at, link, img, proc, inl)"
)

OUTBOX_MUSIC_FOUND = (
    "SELECT k.i, (SELECT count(*) FROM music m WHERE m.user_id = k.chat"
    " AND m.downloaded_at = k.at AND m.video_id = k.vid) AS n"
    " FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bigint[]) AS k(i, chat, at, vid)"
)

# The downloads, in queue order (so pk_id follows it).
# A media entry pruned while the download was queued is linked as NULL, as on the direct path.
_OUTBOX_MEDIA = "(SELECT m.id FROM tt_storage_media AS m WHERE m.id = e.mid)"

OUTBOX_INSERT_VIDEOS = (
    "INSERT INTO videos (" + _VIDEO_COLUMNS + ") "
    "SELECT e.chat, e.at, e.link, e.img, e.proc, e.inl, " + _OUTBOX_MEDIA + ", e.hit"
    " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::boolean[], $5::boolean[],"
    " $6::boolean[], $7::bigint[], $8::boolean[])"
    " WITH ORDINALITY AS e(chat, at, link, img, proc, inl, mid, hit, n) ORDER BY e.n"
)

OUTBOX_INSERT_MUSIC = (
    "INSERT INTO music (user_id, downloaded_at, video_id, media_id, cache_hit) "
    "SELECT e.chat, e.at, e.vid, " + _OUTBOX_MEDIA + ", e.hit"
    " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::boolean[])"
    " WITH ORDINALITY AS e(chat, at, vid, mid, hit, n) ORDER BY e.n"
)

# The replayed downloads' media entries, counted as used as the direct path would have: $1 ids
# (sorted: a stable lock order), $2 downloads each, $3 the latest download time each.
OUTBOX_COUNT_MEDIA = (
    "UPDATE tt_storage_media m SET use_count = m.use_count + d.n,"
    " last_used_at = GREATEST(m.last_used_at, d.at)"
    " FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS d(id, n, at) WHERE m.id = d.id"
)

# Downloads that could not decide an ad count as downloads without one. $1 ids, $2 counts.
OUTBOX_COUNT_ADS = (
    "UPDATE users u SET ad_count = u.ad_count + d.n"
    " FROM unnest($1::bigint[], $2::int[]) AS d(chat, n) WHERE u.user_id = d.chat"
)


# --- analytics (services/analytics.py) -----------------------------------------------------------
# Epoch seconds are floored to a bucket with ((t % b) + b) % b, which is right for negative t too.

# Downloads sent through the media cache from its file_ids (hits) or produced (misses).
_HITS = "count(*) FILTER (WHERE cache_hit) AS hits, count(*) FILTER (WHERE NOT cache_hit) AS misses"

# One round trip for a window: $1 since (rows with a NULL timestamp never match), $2..$3 the chat
# id range. Distinct chats by count(DISTINCT): a sort of one bigint per row, which stays in memory
# where a hash of (chat, counters) spills.
QUICK_STATS_SINCE = (
    "SELECT (SELECT count(*) FROM users"
    " WHERE registered_at >= $1 AND user_id BETWEEN $2 AND $3) AS new_chats,"
    " v.videos, v.video_chats, v.images, v.image_chats, m.music, m.music_chats,"
    " v.hits + m.hits AS cache_hits, v.misses + m.misses AS cache_misses "
    "FROM (SELECT count(*) AS videos, count(DISTINCT user_id) AS video_chats,"
    " count(*) FILTER (WHERE is_images) AS images,"
    " count(DISTINCT user_id) FILTER (WHERE is_images) AS image_chats, " + _HITS + ""
    " FROM videos WHERE downloaded_at >= $1 AND user_id BETWEEN $2 AND $3) v, "
    "(SELECT count(*) AS music, count(DISTINCT user_id) AS music_chats, " + _HITS + ""
    " FROM music WHERE downloaded_at >= $1 AND user_id BETWEEN $2 AND $3) m"
)

# All time, NULL timestamps included: $1..$2 the chat id range. Every part is a scan of an index
# in chat order (users_pkey, idx_videos_user_time, idx_videos_user_images, idx_music_user_time)
# grouped as it streams: no heap, no sort, no hash (the cache counts: the partial indexes of
# migration 9 on (user_id, cache_hit), which hold only the downloads sent through the cache).
QUICK_STATS_ALL = (
    "SELECT (SELECT count(*) FROM users WHERE user_id BETWEEN $1 AND $2) AS new_chats,"
    " coalesce(v.n, 0)::bigint AS videos, v.chats AS video_chats,"
    " coalesce(i.n, 0)::bigint AS images, i.chats AS image_chats,"
    " coalesce(m.n, 0)::bigint AS music, m.chats AS music_chats,"
    " cv.hits + cm.hits AS cache_hits, cv.misses + cm.misses AS cache_misses "
    "FROM (SELECT sum(n) AS n, count(*) AS chats FROM (SELECT user_id, count(*) AS n FROM videos"
    " WHERE user_id BETWEEN $1 AND $2 GROUP BY user_id) s) v, "
    "(SELECT sum(n) AS n, count(*) AS chats FROM (SELECT user_id, count(*) AS n FROM videos"
    " WHERE is_images AND user_id BETWEEN $1 AND $2 GROUP BY user_id) s) i, "
    "(SELECT sum(n) AS n, count(*) AS chats FROM (SELECT user_id, count(*) AS n FROM music"
    " WHERE user_id BETWEEN $1 AND $2 GROUP BY user_id) s) m, "
    "(SELECT " + _HITS + " FROM videos"
    " WHERE cache_hit IS NOT NULL AND user_id BETWEEN $1 AND $2) cv, "
    "(SELECT " + _HITS + " FROM music"
    " WHERE cache_hit IS NOT NULL AND user_id BETWEEN $1 AND $2) cm"
)

# The series' first row, for period 0 (an index's first entry).
SERIES_FIRST = {
    "users": "SELECT min(registered_at) FROM users",
    "videos": "SELECT min(downloaded_at) FROM videos",
    "music": "SELECT min(downloaded_at) FROM music",
    # The media cache's series: the first download of either table.
    "cache": (
        "SELECT least((SELECT min(downloaded_at) FROM videos),"
        " (SELECT min(downloaded_at) FROM music))"
    ),
}

# Zero-filled buckets: $1 first bucket start, $2 end of the last (current) bucket, $3 width.
_BUCKETS = "generate_series($1::bigint, $2::bigint - $3::bigint, $3::bigint) AS g(t)"

# New chats per bucket, straight from idx_users_registered_at.
USERS_SERIES = (
    "SELECT g.t, coalesce(c.n, 0) FROM " + _BUCKETS + " LEFT JOIN ("
    "SELECT registered_at - ((registered_at % $3) + $3) % $3 AS t, count(*) AS n FROM users"
    " WHERE registered_at >= $1 AND registered_at < $2 GROUP BY 1) c USING (t) ORDER BY g.t"
)


# Downloads per bucket: the hourly rollup (rows with pk_id <= $4, the folded ones) plus the rows
# folded after it, counted live through the primary key. Read in one snapshot with $4. By
# (table, rollup kind, the rows the live part counts).
_SERIES = {
    (table, kind, live): (
        "SELECT g.t, (coalesce(r.n, 0) + coalesce(l.n, 0))::bigint FROM " + _BUCKETS + " "
        "LEFT JOIN (SELECT hour - ((hour % $3) + $3) % $3 AS t, sum(n) AS n"
        " FROM tt_storage_hourly WHERE kind = '" + kind + "' AND hour >= $1 AND hour < $2"
        " GROUP BY 1) r USING (t) "
        "LEFT JOIN (SELECT downloaded_at - ((downloaded_at % $3) + $3) % $3 AS t, count(*) AS n"
        " FROM " + table + " WHERE pk_id > $4 AND downloaded_at >= $1 AND downloaded_at < $2"
        " AND " + live + " GROUP BY 1) l USING (t) ORDER BY g.t"
    )
    for table in ("videos", "music")
    for kind, live in (
        (table, "true"),
        (table + "_hits", "cache_hit"),
        (table + "_misses", "NOT cache_hit"),
    )
}

ROLLUP_SERIES = {table: _SERIES[table, table, "true"] for table in ("videos", "music")}

# Media cache hits and misses per bucket, of each table (get_time_series adds the two up).
CACHE_SERIES = {
    (what, table): _SERIES[table, table + "_" + what, live]
    for what, live in (("hits", "cache_hit"), ("misses", "NOT cache_hit"))
    for table in ("videos", "music")
}

# --- active chats (migration 10): one row per chat and UTC day ----------------------------------

# $1 chat id, $2 the day's start. Only for a registered chat, whose row it holds KEY SHARE until
# commit: a forget_chat in flight (which locks the row FOR UPDATE first) either waits for this
# write and then deletes its row, or has already deleted the chat, and this writes nothing.
# Days are recorded in order per chat: a day at or before the chat's last one writes nothing, so
# previous_day (the chat's last day before, by idx (chat_id, day)) is always its true previous.
_ACTIVITY_COLUMNS = "day, chat_id, registered_at, previous_day"
RECORD_ACTIVITY = (
    "INSERT INTO tt_storage_activity (" + _ACTIVITY_COLUMNS + ")"
    " SELECT $2, user_id, registered_at, (SELECT max(b.day) FROM tt_storage_activity AS b"
    " WHERE b.chat_id = $1) FROM users WHERE user_id = $1"
    " AND NOT EXISTS (SELECT 1 FROM tt_storage_activity AS b"
    " WHERE b.chat_id = $1 AND b.day >= $2::bigint) FOR KEY SHARE"
    " ON CONFLICT (day, chat_id) DO NOTHING"
)

# The start of the last UTC day the chat was active (NULL: never recorded). idx (chat_id, day).
LAST_ACTIVE = "SELECT max(day) FROM tt_storage_activity WHERE chat_id = $1"

# No JIT for the transaction of one activity statement: compiling cost more than the ~10^5 rows
# of a day it would speed up (150 ms of 560 measured at 10M downloads).
ACTIVE_STATS_SETTINGS = "SET LOCAL jit = off"

# A window of days: $1 its first day, $2 the first day of the window as long before it, $3..$4
# the chat id range. One range scan of the primary key, no grouping: a chat's first row in a
# window is the one whose previous_day is before the window (or NULL). Retained: that row's
# previous_day falls in the window before. New: registered in the window (NULL: returning).
_FIRST_IN = "(previous_day IS NULL OR previous_day < {start})"
ACTIVE_STATS = (
    "SELECT count(*) FILTER (WHERE day >= $1 AND " + _FIRST_IN.format(start="$1") + ")"
    " AS active_chats,"
    " count(*) FILTER (WHERE day >= $1 AND " + _FIRST_IN.format(start="$1") + ""
    " AND registered_at >= $1) AS new_active_chats,"
    " count(*) FILTER (WHERE day < $1 AND " + _FIRST_IN.format(start="$2") + ")"
    " AS previous_active_chats,"
    " count(*) FILTER (WHERE day >= $1 AND previous_day >= $2 AND previous_day < $1)"
    " AS retained_chats "
    "FROM tt_storage_activity WHERE day >= $2 AND chat_id BETWEEN $3 AND $4"
)

# All time: $1..$2 the chat id range; each chat's first row has no previous_day.
ACTIVE_STATS_ALL = (
    "SELECT count(*) AS active_chats FROM tt_storage_activity"
    " WHERE previous_day IS NULL AND chat_id BETWEEN $1 AND $2"
)

SERIES_FIRST_ACTIVE = "SELECT min(day) FROM tt_storage_activity"

# Active chats per bucket (whole days), and of them those registered before their day (NULL:
# before): same parameters as USERS_SERIES.
ACTIVE_SERIES = {
    kind: (
        "SELECT g.t, coalesce(c.n, 0) FROM " + _BUCKETS + " LEFT JOIN ("
        "SELECT day - ((day % $3) + $3) % $3 AS t, count(*) AS n FROM tt_storage_activity"
        " WHERE day >= $1 AND day < $2" + where + " GROUP BY 1) c USING (t) ORDER BY g.t"
    )
    for kind, where in (
        ("active", ""),
        ("returning", " AND coalesce(registered_at < day, true)"),
    )
}

# --- forget_chat (services/privacy.py): one transaction, $1 the chat id --------------------------

# Says, for this transaction only, that the downloads it deletes are subtracted from the rollup
# here, so the reset trigger (migration 10's version) leaves the rollup alone.
ROLLUP_ADJUSTED = "SELECT set_config('tt_storage.rollup_adjusted', 'on', true)"

# The chat's downloads, and their count taken off the rollup's hours (and the media cache's hit
# and miss hours, migration 9) for the rows it had folded
# ($2 its folded_pk; 0 when it has folded nothing). Run under the fold's locks (ROLLUP_LOCK,
# ROLLUP_ADVISORY_LOCK), so no fold runs between the read of $2 and this.
FORGET_DOWNLOADS = {
    table: (
        "WITH gone AS (DELETE FROM " + table + " WHERE user_id = $1"
        " RETURNING pk_id, downloaded_at, cache_hit), "
        "hours AS (SELECT k.kind, downloaded_at - ((downloaded_at % 3600) + 3600) % 3600 AS hour,"
        " count(*) AS n FROM gone, LATERAL (VALUES ('" + table + "'), (CASE WHEN cache_hit"
        " THEN '" + table + "_hits' WHEN NOT cache_hit THEN '" + table + "_misses' END)) AS k(kind)"
        " WHERE k.kind IS NOT NULL AND pk_id <= $2 AND downloaded_at IS NOT NULL GROUP BY 1, 2), "
        "adjusted AS (UPDATE tt_storage_hourly AS h SET n = h.n - hours.n FROM hours"
        " WHERE h.kind = hours.kind AND h.hour = hours.hour) "
        "SELECT count(*) FROM gone"
    )
    for table in ("videos", "music")
}

# Everything else, after the downloads: the activity of the chat and of the ids that migrated
# to it, the FSM rows whose key names it as the chat or the user (the key's 2nd and 3rd fields:
# a scan of tt_storage_fsm, which holds live conversations only), its migration records both
# ways, and its row (its cached settings go with the delete trigger's NOTIFY).
FORGET_CHAT = (
    "WITH ids AS (SELECT $1::bigint AS id UNION"
    " SELECT old_id FROM tt_storage_chat_migrations WHERE new_id = $1), "
    "a AS (DELETE FROM tt_storage_activity WHERE chat_id IN (SELECT id FROM ids) RETURNING 1), "
    "f AS (DELETE FROM tt_storage_fsm WHERE split_part(key, ':', 2) IN (SELECT id::text FROM ids)"
    " OR split_part(key, ':', 3) = $1::text RETURNING 1), "
    "mg AS (DELETE FROM tt_storage_chat_migrations WHERE old_id = $1 OR new_id = $1"
    " RETURNING 1), "
    "u AS (DELETE FROM users WHERE user_id = $1 RETURNING 1) "
    "SELECT (SELECT count(*) FROM u) AS users, (SELECT count(*) FROM a) AS activity,"
    " (SELECT count(*) FROM f) AS fsm, (SELECT count(*) FROM mg) AS migrations"
)

# --- the hourly rollup: $1 the table ('videos' or 'music') ---------------------------------------

# Held by a fold and by the reset trigger (migration 4): folds and resets never interleave. The
# table lock first, in the order TRUNCATE takes them, so the two cannot deadlock.
ROLLUP_LOCK = {
    table: "LOCK TABLE " + table + " IN ACCESS SHARE MODE" for table in ("videos", "music")
}
ROLLUP_ADVISORY_LOCK = "SELECT pg_advisory_xact_lock(hashtext('tt_storage_hourly'), hashtext($1))"

ROLLUP_FOLDED = "SELECT folded_pk FROM tt_storage_hourly_state WHERE kind = $1"

# The transactions of this database that hold an xid now (prepared ones too): rows they insert
# may take pk_ids below what is already visible.
_RUNNING_XIDS = (
    "ARRAY(SELECT l.transactionid FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted"
    " AND (l.pid IS NULL OR a.datname = current_database()))"
)

# $2 now, $3 settle seconds. `ripe`: the transactions running when pending_pk was observed have
# all ended, and $3 seconds have passed (for an INSERT that drew its pk_id before then but had no
# xid yet).
ROLLUP_STATE = (
    "SELECT folded_pk, pending_pk, (pending_pk IS NOT NULL"
    " AND $2::bigint >= pending_at + $3::bigint"
    " AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'transactionid'"
    " AND l.mode = 'ExclusiveLock' AND l.transactionid = ANY (pending_xids))) AS ripe "
    "FROM tt_storage_hourly_state WHERE kind = $1"
)

# Observe the next batch to fold: the highest committed pk_id and the transactions still running.
# $1 now.
ROLLUP_OBSERVE = {
    table: (
        "INSERT INTO tt_storage_hourly_state AS s"
        " (kind, folded_pk, pending_pk, pending_xids, pending_at) "
        "SELECT '" + table + "', 0, max_pk, " + _RUNNING_XIDS + ", $1"
        " FROM (SELECT coalesce(max(pk_id), 0) AS max_pk FROM " + table + ") x "
        "ON CONFLICT (kind) DO UPDATE SET"
        " pending_pk = CASE WHEN EXCLUDED.pending_pk > s.folded_pk THEN EXCLUDED.pending_pk END,"
        " pending_xids = CASE WHEN EXCLUDED.pending_pk > s.folded_pk"
        "  THEN EXCLUDED.pending_xids END,"
        " pending_at = CASE WHEN EXCLUDED.pending_pk > s.folded_pk THEN EXCLUDED.pending_at END"
    )
    for table in ("videos", "music")
}

# Fold the rows $1 < pk_id <= $2 into their hours, and record it. Downloads sent through the
# media cache are also folded as '<table>_hits' / '<table>_misses' (migration 9).
ROLLUP_FOLD = {
    table: (
        "WITH hours AS (SELECT downloaded_at - ((downloaded_at % 3600) + 3600) % 3600 AS hour,"
        " count(*) AS n, " + _HITS + " FROM " + table + " WHERE pk_id > $1 AND pk_id <= $2"
        " AND downloaded_at IS NOT NULL GROUP BY 1), "
        "ins AS (INSERT INTO tt_storage_hourly AS h (kind, hour, n)"
        " SELECT k.kind, hours.hour, k.n FROM hours, LATERAL (VALUES ('" + table + "', hours.n),"
        " ('" + table + "_hits', hours.hits), ('" + table + "_misses', hours.misses))"
        " AS k(kind, n) WHERE k.n > 0"
        " ON CONFLICT (kind, hour) DO UPDATE SET n = h.n + EXCLUDED.n) "
        "UPDATE tt_storage_hourly_state SET folded_pk = $2,"
        " pending_pk = CASE WHEN $2 < pending_pk THEN pending_pk END,"
        " pending_xids = CASE WHEN $2 < pending_pk THEN pending_xids END,"
        " pending_at = CASE WHEN $2 < pending_pk THEN pending_at END"
        " WHERE kind = '" + table + "'"
    )
    for table in ("videos", "music")
}

# --- CSV exports, streamed through a cursor -------------------------------------------------------

EXPORT_USER_HISTORY = (
    "SELECT downloaded_at, video_link, is_images, is_processed, is_inline FROM videos"
    " WHERE user_id = $1 ORDER BY downloaded_at NULLS FIRST, pk_id"
)

EXPORT_USERS = (
    "SELECT user_id, registered_at, lang, link, file_mode, blocked_at FROM users"
    " WHERE user_id BETWEEN $1 AND $2 ORDER BY user_id"
)

# --- the operator CLI (tt_storage/ops/cli/) -------------------------------------------------------

SERVER_VERSION = "SHOW server_version"
IS_STANDBY = "SELECT pg_is_in_recovery()"

# $1 index names. Missing ones have no row.
INDEX_STATE = (
    "SELECT c.relname AS name, t.relname AS table_name, i.indisvalid AS valid FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
    " WHERE c.relname = ANY ($1::text[]) AND c.relnamespace = current_schema()::regnamespace"
)

# $1 table names: the planner's row estimate (-1: never analyzed) and sizes in bytes.
TABLE_ESTIMATES = (
    "SELECT c.relname AS name, c.reltuples::bigint AS rows,"
    " pg_relation_size(c.oid) AS heap_bytes, pg_total_relation_size(c.oid) AS total_bytes"
    " FROM pg_class c WHERE c.relname = ANY ($1::text[]) AND c.relkind IN ('r', 'p')"
    " AND c.relnamespace = current_schema()::regnamespace ORDER BY c.relname"
)

# How far the hourly rollup has folded each table (NULL: nothing yet), and its last pk_id.
ROLLUP_LAG = (
    "SELECT 'videos' AS kind,"
    " (SELECT folded_pk FROM tt_storage_hourly_state WHERE kind = 'videos') AS folded_pk,"
    " (SELECT max(pk_id) FROM videos) AS max_pk "
    "UNION ALL SELECT 'music',"
    " (SELECT folded_pk FROM tt_storage_hourly_state WHERE kind = 'music'),"
    " (SELECT max(pk_id) FROM music)"
)

# --- migrations ---------------------------------------------------------------------------

# Session-level: held across aerich's own transactions, released explicitly.
MIGRATION_TRY_LOCK = "SELECT pg_try_advisory_lock($1)"
MIGRATION_UNLOCK = "SELECT pg_advisory_unlock($1)"
#: Who holds a bigint advisory lock ($1 its high 32 bits, $2 its low 32 bits): the session's pid,
#: application_name, client address, connection time and time in its current state.
ADVISORY_LOCK_HOLDER = (
    "SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start,"
    " a.state, EXTRACT(EPOCH FROM now() - a.state_change)::float8 AS state_seconds"
    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.classid::int8 = $1 AND l.objid::int8 = $2 AND l.database = ("
    " SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1"
)

# --- aiogram FSM storage (tt_storage.bot.fsm): $1 the row key -------------------------------------
# A part's expiry: NULL never, '-infinity' when the part is empty. Reads ignore expired parts;
# the bounded cleanup deletes rows whose every part has expired (empty parts count as expired).

_FSM_STATE = "CASE WHEN f.state_expires_at IS NULL OR f.state_expires_at > now() THEN f.state END"
_FSM_DEAD = (
    "f.state_expires_at IS NOT NULL AND f.data_expires_at IS NOT NULL"
    " AND GREATEST(f.state_expires_at, f.data_expires_at) <= now()"
)
# $3 seconds to live (NULL: forever).
_FSM_EXPIRY = "now() + make_interval(secs => $3)"

FSM_GET_STATE = "SELECT " + _FSM_STATE + " FROM tt_storage_fsm AS f WHERE f.key = $1"

# $2 the chat id: the middleware's settings SELECT rides along with aiogram's state read, so an
# update with FSM costs one round trip for both (tt_storage.bot.fsm hands the row to the
# middleware).
FSM_GET_STATE_AND_CHAT = (
    "SELECT " + _FSM_STATE + " AS state, u.user_id, u.lang, u.file_mode, u.blocked_at"
    " FROM (VALUES (1)) AS one LEFT JOIN tt_storage_fsm AS f ON f.key = $1"
    " LEFT JOIN users AS u ON u.user_id = $2"
)

# $2 the state, $3 its seconds to live.
FSM_SET_STATE = (
    "INSERT INTO tt_storage_fsm AS f (key, state, data, state_expires_at, data_expires_at)"
    " VALUES ($1, $2, '{}', " + _FSM_EXPIRY + ", '-infinity')"
    " ON CONFLICT (key) DO UPDATE"
    " SET state = EXCLUDED.state, state_expires_at = EXCLUDED.state_expires_at"
)

# A row left with neither state nor live data is deleted in the same statement. (Sub-statements
# share one snapshot; under a concurrent write the DELETE re-checks the newer row version and
# skips it, and the UPDATE then applies.)
FSM_CLEAR_STATE = (
    "WITH gone AS (DELETE FROM tt_storage_fsm AS f WHERE f.key = $1"
    " AND (f.data = '{}' OR f.data_expires_at <= now()) RETURNING 1)"
    " UPDATE tt_storage_fsm SET state = NULL, state_expires_at = '-infinity'"
    " WHERE key = $1 AND NOT EXISTS (SELECT FROM gone)"
)

FSM_GET_DATA = (
    "SELECT CASE WHEN f.data_expires_at IS NULL OR f.data_expires_at > now()"
    " THEN f.data::text END FROM tt_storage_fsm AS f WHERE f.key = $1"
)

# $2 the data (JSON text of a non-empty object), $3 its seconds to live.
FSM_SET_DATA = (
    "INSERT INTO tt_storage_fsm AS f (key, state, data, state_expires_at, data_expires_at)"
    " VALUES ($1, NULL, $2::jsonb, '-infinity', " + _FSM_EXPIRY + ")"
    " ON CONFLICT (key) DO UPDATE"
    " SET data = EXCLUDED.data, data_expires_at = EXCLUDED.data_expires_at"
)

FSM_CLEAR_DATA = (
    "WITH gone AS (DELETE FROM tt_storage_fsm AS f WHERE f.key = $1"
    " AND (f.state IS NULL OR f.state_expires_at <= now()) RETURNING 1)"
    " UPDATE tt_storage_fsm SET data = '{}', data_expires_at = '-infinity'"
    " WHERE key = $1 AND NOT EXISTS (SELECT FROM gone)"
)

# $2 the patch (JSON text of a non-empty object), $3 seconds to live. One statement: the row
# lock of ON CONFLICT serializes concurrent patches, each merged into the committed data
# (dict.update semantics: top-level keys, the patch wins). Expired data is replaced, not merged.
FSM_UPDATE_DATA = (
    "INSERT INTO tt_storage_fsm AS f (key, state, data, state_expires_at, data_expires_at)"
    " VALUES ($1, NULL, $2::jsonb, '-infinity', " + _FSM_EXPIRY + ")"
    " ON CONFLICT (key) DO UPDATE SET data = CASE WHEN f.data_expires_at <= now()"
    " THEN EXCLUDED.data ELSE f.data || EXCLUDED.data END,"
    " data_expires_at = EXCLUDED.data_expires_at"
    " RETURNING f.data::text"
)

# $1 at most this many rows: found through the partial expression index (migration 7), never
# by scanning the table; rows another cleaner holds are skipped.
FSM_CLEANUP = (
    "DELETE FROM tt_storage_fsm AS f WHERE ctid = ANY (ARRAY("
    "SELECT ctid FROM tt_storage_fsm AS f WHERE " + _FSM_DEAD + " LIMIT $1"
    " FOR UPDATE SKIP LOCKED)) AND " + _FSM_DEAD
)

# --- aiogram event isolation (tt_storage.bot.isolation): session-level advisory locks -------------

# $1 the lock id. Waits (bounded by the caller's timeout); released by FSM_UNLOCK_ALL.
FSM_LOCK = "SELECT pg_advisory_lock($1)"
# Run when the lock's connection goes back to its pool.
FSM_UNLOCK_ALL = "SELECT pg_advisory_unlock_all()"
# Whether aerich's table exists (a fresh database has none yet).
AERICH_TABLE_EXISTS = "SELECT to_regclass('aerich') IS NOT NULL"

# Versions before 0.2 recorded tt-storage's migrations under the app label "models". $1 the new
# label, $2 the old one, $3 tt-storage's own migration names: only those rows move (an app of
# the application's own, also called "models", keeps its rows), and never onto a row that the
# new label already has. Idempotent. The models state aerich keeps per row names the app too
# ("models.Users", "app": "models"): renamed with it, or `aerich migrate` would see a new app.
RELABEL_MIGRATIONS = (
    "UPDATE aerich SET app = $1, content = replace(replace(content::text,"
    " '\"' || $2 || '.', '\"' || $1 || '.'), '\"' || $2 || '\"', '\"' || $1 || '\"')::jsonb"
    " WHERE app = $2 AND version = ANY ($3::text[])"
    " AND NOT EXISTS (SELECT 1 FROM aerich AS done WHERE done.app = $1"
    " AND done.version = aerich.version)"
)

# init_storage's schema check: which of tt-storage's migrations ($2) are recorded under either
# of its labels ($1).
APPLIED_MIGRATIONS = (
    "SELECT version FROM aerich WHERE app = ANY ($1::text[]) AND version = ANY ($2::text[])"
)

# --- broadcast campaigns (tt_storage.services.campaigns, tt_storage.admin.campaigns) -------------
# States: scheduled -> running -> done; paused, cancelled, failed on the way. Times are epoch
# seconds; the lease and budget columns are fractional.

_CAMPAIGN_COLUMNS = (
    "bot_id, name, from_chat_id, message_id, sender, audience, languages, rate, state, start_at,"
    " created_at, started_at, finished_at, total, error"
)
_CHUNK_COLUMNS = (
    "campaign_id, chunk, chat_ids, position, worker, lease_until, sent, blocked, migrated,"
    " failed, skipped, done"
)

# $1 bot, $2 name, $3/$4 the message to copy (or NULL), $5 the sender's name (or NULL),
# $6 audience, $7 languages (jsonb or NULL), $8 rate, $9 state, $10 start_at, $11 now.
CAMPAIGN_INSERT = (
    "INSERT INTO tt_storage_campaigns (" + _CAMPAIGN_COLUMNS + ") VALUES"
    " ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, NULL, NULL, 0, NULL) RETURNING id"
)
# Every bot a campaign names has a budget row: the slots are reserved by UPDATE alone.
BUDGET_ENSURE = (
    "INSERT INTO tt_storage_bot_budget (bot_id, next_at, paused_until) VALUES ($1, 0, 0)"
    " ON CONFLICT (bot_id) DO NOTHING"
)
# The scheduled campaigns of bot $1 whose time has come ($2 now).
CAMPAIGNS_DUE = (
    "SELECT c.id FROM tt_storage_campaigns AS c"
    " WHERE c.bot_id = $1 AND c.state = 'scheduled' AND c.start_at <= $2 ORDER BY c.id"
)
# Starting fixes the recipients: the row lock makes one starter plan, the others find it
# running. $1 campaign, $2 now.
CAMPAIGN_START = (
    "UPDATE tt_storage_campaigns SET state = 'running', started_at = $2"
    " WHERE id = $1 AND state = 'scheduled' AND start_at <= $2 RETURNING audience, languages"
)
# The reachable chats of the audience, in id order, $2 to a chunk. $1 campaign, $3 audience,
# $4 languages (jsonb array, or NULL for all).
CAMPAIGN_PLAN = (
    "INSERT INTO tt_storage_campaign_chunks (" + _CHUNK_COLUMNS + ")"
    " SELECT $1, r.n / $2, array_agg(r.user_id ORDER BY r.user_id), 0, NULL, 0, 0, 0, 0, 0, 0,"
    " false FROM (SELECT u.user_id, row_number() OVER (ORDER BY u.user_id) - 1 AS n"
    " FROM users AS u WHERE u.blocked_at IS NULL AND ($3 = 'all' OR u.user_id > 0)"
    " AND ($4::jsonb IS NULL OR u.lang IN (SELECT jsonb_array_elements_text($4::jsonb)))) AS r"
    " GROUP BY r.n / $2"
)
# After planning: the number of recipients; a campaign with none is done at once. $2 now.
CAMPAIGN_PLANNED = (
    "UPDATE tt_storage_campaigns AS c SET total = p.total,"
    " state = CASE WHEN p.total = 0 THEN 'done' ELSE c.state END,"
    " finished_at = CASE WHEN p.total = 0 THEN $2 ELSE c.finished_at END"
    " FROM (SELECT coalesce(sum(cardinality(k.chat_ids)), 0) AS total"
    " FROM tt_storage_campaign_chunks AS k WHERE k.campaign_id = $1) AS p"
    " WHERE c.id = $1 RETURNING c.total"
)
# A chunk of a running campaign of bot $1 that nobody holds, or whose lease ran out ($2 now),
# leased to worker token $3 for $4 s. SKIP LOCKED: concurrent claimers take different chunks.
CLAIM_CHUNK = (
    "UPDATE tt_storage_campaign_chunks AS k SET worker = $3, lease_until = $2 + $4"
    " FROM (SELECT o.id FROM tt_storage_campaign_chunks AS o"
    " JOIN tt_storage_campaigns AS c ON c.id = o.campaign_id"
    " WHERE c.bot_id = $1 AND c.state = 'running' AND NOT o.done"
    " AND (o.worker IS NULL OR o.lease_until < $2)"
    " ORDER BY o.campaign_id, o.chunk LIMIT 1 FOR UPDATE OF o SKIP LOCKED) AS pick"
    " WHERE k.id = pick.id RETURNING k.id, k.campaign_id, k.chat_ids, k.position"
)
# What to send for campaign $1.
CAMPAIGN_SOURCE = (
    "SELECT c.from_chat_id, c.message_id, c.sender, c.rate FROM tt_storage_campaigns AS c"
    " WHERE c.id = $1"
)
# The chats of $1 (a chunk's ids) that are not simply reachable: migrated since the plan (sent
# to their new id), or blocked or gone (skipped).
CHUNK_EXCEPTIONS = (
    "SELECT t.id, coalesce(m.new_id, t.id) AS target,"
    " u.user_id IS NOT NULL AND u.blocked_at IS NULL AS reachable"
    " FROM unnest($1::bigint[]) AS t(id)"
    " LEFT JOIN tt_storage_chat_migrations AS m ON m.old_id = t.id"
    " LEFT JOIN users AS u ON u.user_id = coalesce(m.new_id, t.id)"
    " WHERE m.old_id IS NOT NULL OR u.user_id IS NULL OR u.blocked_at IS NOT NULL"
)
# One recorded step of chunk $1 by worker token $2: the chats before position $3 are done, with
# these outcomes ($4 sent, $5 blocked, $6 migrated, $7 failed, $8 skipped); the lease runs to $9.
# No row: the lease was lost (another worker has the chunk). Returns the campaign's state and
# the bot's 429 pause, so every send learns of a pause, a cancel or a flood wait.
CHUNK_PROGRESS = (
    "UPDATE tt_storage_campaign_chunks AS k SET position = $3, sent = k.sent + $4,"
    " blocked = k.blocked + $5, migrated = k.migrated + $6, failed = k.failed + $7,"
    " skipped = k.skipped + $8, lease_until = $9, done = $3 >= cardinality(k.chat_ids),"
    " worker = CASE WHEN $3 >= cardinality(k.chat_ids) THEN NULL ELSE k.worker END"
    " FROM tt_storage_campaigns AS c, tt_storage_bot_budget AS b"
    " WHERE k.id = $1 AND k.worker = $2 AND c.id = k.campaign_id AND b.bot_id = c.bot_id"
    " RETURNING c.state, b.paused_until"
)
# Worker token $2 gives chunk $1 back (pause, cancel, shutdown): another may take it at once.
CHUNK_RELEASE = (
    "UPDATE tt_storage_campaign_chunks SET worker = NULL, lease_until = 0"
    " WHERE id = $1 AND worker = $2"
)
# Campaign $1 is done once no chunk is left ($2 now).
CAMPAIGN_FINISH = (
    "UPDATE tt_storage_campaigns SET state = 'done', finished_at = $2"
    " WHERE id = $1 AND state = 'running' AND NOT EXISTS (SELECT 1"
    " FROM tt_storage_campaign_chunks AS k WHERE k.campaign_id = $1 AND NOT k.done)"
)
# $3 says why (the message to copy is gone, the sender is unknown, the token was revoked).
CAMPAIGN_FAIL = (
    "UPDATE tt_storage_campaigns SET state = 'failed', finished_at = $2, error = $3"
    " WHERE id = $1 AND state IN ('scheduled', 'running', 'paused') RETURNING id"
)
CAMPAIGN_PAUSE = (
    "UPDATE tt_storage_campaigns SET state = 'paused'"
    " WHERE id = $1 AND state IN ('scheduled', 'running') RETURNING id"
)
CAMPAIGN_RESUME = (
    "UPDATE tt_storage_campaigns"
    " SET state = CASE WHEN started_at IS NULL THEN 'scheduled' ELSE 'running' END"
    " WHERE id = $1 AND state = 'paused' RETURNING state"
)
CAMPAIGN_CANCEL = (
    "UPDATE tt_storage_campaigns SET state = 'cancelled', finished_at = $2"
    " WHERE id = $1 AND state IN ('scheduled', 'running', 'paused') RETURNING id"
)
# $3 send slots of bot $1 at $4 per second, the first no earlier than $2 (now) or the end of a
# 429 pause: returns the first slot's time. Every worker of the bot shares this one schedule.
BUDGET_RESERVE = (
    "UPDATE tt_storage_bot_budget"
    " SET next_at = greatest(next_at, paused_until, $2) + $3::float8 / $4::float8"
    " WHERE bot_id = $1 RETURNING next_at - $3::float8 / $4::float8"
)
# A 429 for bot $1: no slot before $2 for any worker.
BUDGET_PAUSE = (
    "UPDATE tt_storage_bot_budget SET paused_until = greatest(paused_until, $2) WHERE bot_id = $1"
)
_CAMPAIGN_STATUS = (
    "SELECT c.id, c.bot_id, c.name, c.state, c.rate, c.total, c.start_at, c.created_at,"
    " c.started_at, c.finished_at, c.error, c.audience, c.languages, c.sender, c.from_chat_id,"
    " c.message_id, coalesce(sum(k.sent), 0) AS sent, coalesce(sum(k.blocked), 0) AS blocked,"
    " coalesce(sum(k.migrated), 0) AS migrated, coalesce(sum(k.failed), 0) AS failed,"
    " coalesce(sum(k.skipped), 0) AS skipped,"
    " count(k.id) FILTER (WHERE k.worker IS NOT NULL AND k.lease_until >= $2) AS leased"
    " FROM tt_storage_campaigns AS c LEFT JOIN tt_storage_campaign_chunks AS k"
    " ON k.campaign_id = c.id"
)
# $1 campaign, $2 now (which leases are live).
CAMPAIGN_STATUS = _CAMPAIGN_STATUS + " WHERE c.id = $1 GROUP BY c.id"
# $1 bot (or NULL: every bot), $2 now, $3 how many, newest first.
CAMPAIGN_LIST = (
    _CAMPAIGN_STATUS + " WHERE $1::bigint IS NULL OR c.bot_id = $1"
    " GROUP BY c.id ORDER BY c.id DESC LIMIT $3"
)

# --- tt-storage's migrations run by Tortoise's own runner (tt_storage.ops.tortoise_migrations) --
# The same rows aerich writes, so that either runner sees what the other applied. $1 the version
# (file name), $2 the app label.
AERICH_ROW_EXISTS = "SELECT EXISTS (SELECT 1 FROM aerich WHERE version = $1 AND app = $2)"
# $3 the models state of that version (aerich's MODELS_STATE, as JSON text).
RECORD_AERICH_ROW = "INSERT INTO aerich (version, app, content) VALUES ($1, $2, $3::jsonb)"

# --- the application's own tables (tt_storage.core.host_schema) ----------------------------------
# The columns of the tables named in $1 that exist (current schema).
HOST_COLUMNS = (
    "SELECT table_name::text AS table_name, column_name::text AS column_name"
    " FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = ANY ($1::text[])"
)
# Whether Tortoise's own migration table exists.
TORTOISE_MIGRATIONS_TABLE_EXISTS = "SELECT to_regclass('tortoise_migrations') IS NOT NULL"
# What each runner recorded for the apps in $1 (app, name): aerich's file names, Tortoise's
# migration names.
AERICH_APPLIED = "SELECT app, version AS name FROM aerich WHERE app = ANY ($1::text[]) ORDER BY id"
TORTOISE_APPLIED = (
    "SELECT app, name FROM tortoise_migrations WHERE app = ANY ($1::text[]) ORDER BY id"
)
