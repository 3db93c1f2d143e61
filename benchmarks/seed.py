"""tt-bot's SQLAlchemy data layer, reproduced from /work/shared/seed/tt-bot-data-layer.txt.

``data/database.py`` and ``data/db_service.py`` in one module; the models (``data/models/*.py``
and ``Base``) are ``benchmarks.seed_models``. Function bodies are the seed's, statement for
statement (including its bugs: the read-then-write ``increase_ad_count``, ``get_session()``
handing out a session its own ``async with`` already closed, the ``== True`` comparison).
Deviations, all for the benchmark only:

* annotations use ``X | None`` instead of ``Optional[X]`` (ruff's pyupgrade rules);
* ``initialize_database_components`` takes ``pool_size`` so that all three implementations get
  the same pool (the seed runs SQLAlchemy's default: 5 + 10 overflow);
* ``get_async_db_url`` is not shown in the seed: it only rewrites the URL scheme to
  ``postgresql+asyncpg://``;
* ``dispose_database_components`` (not in the seed) closes the engine after a run;
* the seed documents ``get_stats_by_period``, ``get_referral_stats`` and ``get_other_stats``
  only by signature, so they are left out (no benchmark row uses them).

Tables are not created here: the benchmark runs on the schema tt-storage's migrations built,
which is the seed's schema plus indexes and the settings-notify trigger.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker

from .seed_models import Base, Music, Users, Video

# --- data/database.py --------------------------------------------------------------------------

engine = None  # SQLAlchemy async engine
async_session = None  # Session factory


def get_async_db_url(db_url: str) -> str:
    parts = urlsplit(db_url)
    return urlunsplit(("postgresql+asyncpg", *parts[1:]))


def initialize_database_components(db_url: str, pool_size: int | None = None):
    """
    Initialize database engine and session factory.
    Call this function once during application startup before any database operations.
    Must be called before using init_db(), get_db(), or get_session().
    Args:
    db_url: Database connection URL string
    Raises:
    RuntimeError: If called multiple times (will overwrite existing globals)
    """
    global engine, async_session
    engine_url = get_async_db_url(db_url)
    # Benchmark only: the same fixed pool size as the other two implementations.
    pool = {} if pool_size is None else {"pool_size": pool_size, "max_overflow": 0}
    engine = create_async_engine(engine_url, echo=False, **pool)
    async_session = sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def dispose_database_components() -> None:
    """Benchmark only: close the engine's pool."""
    global engine, async_session
    if engine is not None:
        await engine.dispose()
    engine = async_session = None


async def init_db():
    # Ensure engine is initialized before calling this
    if engine is None:
        raise RuntimeError(
            "Database engine not initialized. Call initialize_database_components first."
        )
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def get_session() -> AsyncSession:
    # Ensure async_session is initialized
    if async_session is None:
        raise RuntimeError(
            "Database session factory not initialized. Call initialize_database_components first."
        )
    async with async_session() as session:
        return session


# --- data/db_service.py ------------------------------------------------------------------------


async def get_user(user_id: int) -> Users | None:
    async with await get_session() as db:
        stmt = select(Users).where(Users.user_id == user_id)
        result = await db.execute(stmt)
        return result.scalar_one_or_none()


async def create_user(user_id: int, lang: str, link: str | None = None) -> Users:
    async with await get_session() as db:
        time_now = int(datetime.now().timestamp())
        user = Users(
            user_id=user_id,
            registered_at=time_now,
            lang=lang,
            link=link,
            ad_count=0,
            ad_cooldown=0,
        )
        db.add(user)
        await db.commit()
        return user


async def update_user_mode(user_id: int, file_mode: bool) -> None:
    async with await get_session() as db:
        stmt = update(Users).where(Users.user_id == user_id).values(file_mode=file_mode)
        await db.execute(stmt)
        await db.commit()


async def update_user_lang(user_id: int, lang: str) -> None:
    async with await get_session() as db:
        stmt = update(Users).where(Users.user_id == user_id).values(lang=lang)
        await db.execute(stmt)
        await db.commit()


async def get_user_settings(user_id: int) -> tuple[str, bool] | None:
    async with await get_session() as db:
        stmt = select(Users.lang, Users.file_mode).where(Users.user_id == user_id)
        result = await db.execute(stmt)
        user = result.first()
        if user:
            return user[0], bool(user[1])  # (lang, file_mode)
        return None


async def add_video(
    user_id: int,
    video_link: str,
    is_images: bool,
    is_processed: bool = False,
    is_inline: bool = False,
) -> None:
    async with await get_session() as db:
        video = Video(
            user_id=user_id,
            downloaded_at=int(datetime.now().timestamp()),
            video_link=video_link,
            is_images=is_images,
            is_processed=is_processed,
            is_inline=is_inline,
        )
        db.add(video)
        await db.commit()


async def add_music(user_id: int, video_id: int) -> None:
    async with await get_session() as db:
        music = Music(
            user_id=user_id, downloaded_at=int(datetime.now().timestamp()), video_id=video_id
        )
        db.add(music)
        await db.commit()


async def get_user_stats(user_id: int) -> tuple[Users | None, int, int]:
    async with await get_session() as db:
        # Get user
        stmt = select(Users).where(Users.user_id == user_id)
        result = await db.execute(stmt)
        user = result.scalar_one_or_none()
        if not user:
            return None, 0, 0
        # Get video count
        stmt = select(func.count(Video.video_link)).where(Video.user_id == user_id)
        result = await db.execute(stmt)
        videos_count = result.scalar()
        # Get images count
        stmt = select(func.count(Video.video_link)).where(
            Video.user_id == user_id,
            Video.is_images == True,  # noqa: E712 - the seed's own comparison
        )
        result = await db.execute(stmt)
        images_count = result.scalar()
        return user, videos_count, images_count


async def should_show_ad(user_id: int) -> bool:
    async with await get_session() as db:
        stmt = select(Users.ad_count, Users.ad_cooldown).where(Users.user_id == user_id)
        result = await db.execute(stmt)
        ad_count, ad_cooldown = result.first()
        # Show ad if 3+ downloads OR cooldown expired
        return ad_count >= 3 or ad_cooldown < int(datetime.now().timestamp())


async def record_ad_show(user_id: int) -> None:
    async with await get_session() as db:
        ad_cooldown = int(datetime.now().timestamp()) + 86400  # 24 hours
        await db.execute(
            update(Users)
            .where(Users.user_id == user_id)
            .values(ad_count=1, ad_cooldown=ad_cooldown)
        )
        await db.commit()


async def increase_ad_count(user_id: int) -> None:
    async with await get_session() as db:
        stmt = select(Users.ad_count).where(Users.user_id == user_id)
        result = await db.execute(stmt)
        ad_count = result.scalar() or 0
        await db.execute(
            update(Users).where(Users.user_id == user_id).values(ad_count=ad_count + 1)
        )
        await db.commit()


async def get_user_ids(only_positive: bool = True) -> list[int]:
    async with await get_session() as db:
        stmt = select(Users.user_id)
        if only_positive:
            stmt = stmt.where(Users.user_id > 0)  # Only users, not groups
        result = await db.execute(stmt)
        return [id[0] for id in result.all()]


async def get_user_videos(user_id: int) -> list[tuple[int, str]]:
    async with await get_session() as db:
        stmt = select(Video.downloaded_at, Video.video_link).where(Video.user_id == user_id)
        result = await db.execute(stmt)
        return result.all()
