"""The media cache's statements (``tt_storage.services.media``), named, once; parameters only.

Tables of migration 9: ``tt_storage_media`` (an entry per source key) and
``tt_storage_media_files`` (its files per bot and variant, with a compare-and-swap version).
The downloads linked to an entry are written by ``sql.TRACK_VIDEO``/``ADD_VIDEO``/``ADD_MUSIC``.
"""

from __future__ import annotations

# $1 key, $2 bot id, $3 variant. One round trip through two unique indexes; a pure read (the
# entry's use is counted when its download is recorded).
MEDIA_LOOKUP = (
    "SELECT m.id, f.version, f.files::text AS files, m.metadata::text AS metadata, m.metadata_at"
    " FROM tt_storage_media AS m JOIN tt_storage_media_files AS f ON f.media_id = m.id"
    " WHERE m.key = $1 AND f.bot_id = $2 AND f.variant = $3 AND f.files IS NOT NULL"
)

# $1 key, $2 bot id, $3 variant, $4 files (JSON text), $5 metadata (JSON text or NULL: keep the
# entry's), $6 now. The entry is made or touched, then the set replaced: version + 1 over
# whatever was there (an invalidated set included), so a version is never handed out twice for
# one (entry, bot, variant).
MEDIA_STORE = (
    "WITH m AS (INSERT INTO tt_storage_media AS m"
    " (key, metadata, metadata_at, first_used_at, last_used_at, use_count)"
    " VALUES ($1, $5::jsonb, CASE WHEN $5::jsonb IS NULL THEN NULL ELSE $6::bigint END,"
    " $6, $6, 0)"
    " ON CONFLICT (key) DO UPDATE SET"
    " last_used_at = GREATEST(m.last_used_at, EXCLUDED.last_used_at),"
    " metadata = COALESCE(EXCLUDED.metadata, m.metadata),"
    " metadata_at = CASE WHEN EXCLUDED.metadata IS NULL THEN m.metadata_at"
    " ELSE EXCLUDED.metadata_at END"
    " RETURNING m.id, m.metadata, m.metadata_at) "
    "INSERT INTO tt_storage_media_files AS f"
    " (media_id, bot_id, variant, version, files, stored_at)"
    " SELECT id, $2, $3, 1, $4::jsonb, $6 FROM m"
    " ON CONFLICT (media_id, bot_id, variant) DO UPDATE SET"
    " version = f.version + 1, files = EXCLUDED.files, stored_at = EXCLUDED.stored_at"
    " RETURNING f.media_id, f.version, (SELECT metadata::text FROM m) AS metadata,"
    " (SELECT metadata_at FROM m) AS metadata_at"
)

# $1 media id, $2 bot id, $3 variant, $4 the version the caller read, $5 now. Compare-and-swap:
# a newer set (a higher version) is left alone; the row lock makes a concurrent store and this
# queue, and the loser re-checks the version the winner wrote.
MEDIA_INVALIDATE = (
    "UPDATE tt_storage_media_files SET files = NULL, version = version + 1, stored_at = $5"
    " WHERE media_id = $1 AND bot_id = $2 AND variant = $3 AND version = $4"
    " AND files IS NOT NULL"
)

# $1 key, $2 metadata (JSON text), $3 now. The file sets are not touched.
MEDIA_REFRESH_METADATA = (
    "UPDATE tt_storage_media SET metadata = $2::jsonb, metadata_at = $3 WHERE key = $1"
)

# $1 cutoff (entries last used before it go), $2 at most this many. Found through
# idx_tt_storage_media_last_used, never by scanning the table; an entry a download is bumping
# right now is skipped (locked) or re-checked after its lock (a fresh last_used_at stays). Its
# file sets go with it (ON DELETE CASCADE); history rows keep their media_id.
MEDIA_PRUNE = (
    "DELETE FROM tt_storage_media WHERE id = ANY (ARRAY("
    "SELECT id FROM tt_storage_media WHERE last_used_at < $1 ORDER BY last_used_at LIMIT $2"
    " FOR UPDATE SKIP LOCKED)) AND last_used_at < $1"
)

# --- admin reads (services/media_stats.py) --------------------------------------------------------

# All time, by the entries' use counts: $1 how many. A scan of the entries (no index on
# use_count: every recorded download changes it, and an index would make each of those a
# non-HOT update).
MEDIA_TOP_ALL = (
    "SELECT id AS media_id, key, use_count AS uses, NULL::bigint AS hits FROM tt_storage_media"
    " ORDER BY use_count DESC, id LIMIT $1"
)

# The last period, from the history (idx_videos_time, idx_music_time): $1 since, $2 how many.
# A pruned entry's downloads still count, with no key.
MEDIA_TOP_SINCE = (
    "SELECT d.media_id, m.key, d.uses, d.hits FROM (SELECT media_id, count(*) AS uses,"
    " count(*) FILTER (WHERE cache_hit) AS hits FROM ("
    "SELECT media_id, cache_hit FROM videos WHERE downloaded_at >= $1 AND media_id IS NOT NULL"
    " UNION ALL SELECT media_id, cache_hit FROM music"
    " WHERE downloaded_at >= $1 AND media_id IS NOT NULL) u"
    " GROUP BY media_id ORDER BY uses DESC, media_id LIMIT $2) d"
    " LEFT JOIN tt_storage_media AS m ON m.id = d.media_id ORDER BY d.uses DESC, d.media_id"
)

# Entries, live file sets (invalidated ones left out) and the two tables' bytes with indexes.
MEDIA_CACHE_SIZE = (
    "SELECT (SELECT count(*) FROM tt_storage_media) AS entries,"
    " (SELECT count(*) FROM tt_storage_media_files WHERE files IS NOT NULL) AS file_sets,"
    " pg_total_relation_size('tt_storage_media')"
    " + pg_total_relation_size('tt_storage_media_files') AS bytes"
)

# --- single flight (tt_storage.services.flight): $1 the flight's name ---------------------------
# Session-level, on a connection of the flight's own: released explicitly, or by PostgreSQL when
# that connection (or the process holding it) dies. The two-int form keeps these apart from the
# one-bigint migration lock; a hashtext collision only makes two keys wait for each other.

MEDIA_FLIGHT_LOCK = "SELECT pg_advisory_lock(hashtext('tt_storage_media'), hashtext($1))"
MEDIA_FLIGHT_UNLOCK = "SELECT pg_advisory_unlock(hashtext('tt_storage_media'), hashtext($1))"
