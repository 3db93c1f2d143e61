"""The seed's models (tt-bot's ``data/models/*.py`` and ``data/database.py``'s ``Base``), verbatim.

The benchmark's seed layer (``benchmarks.seed``) queries through them; the adoption tests create
the tables from them, as ``Base.metadata.create_all`` does in tt-bot.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Integer, String
from sqlalchemy.orm import declarative_base

Base = declarative_base()  # Model base class


# --- data/models/users.py, video.py, music.py --------------------------------------------------


class Users(Base):
    __tablename__ = "users"
    user_id = Column(BigInteger, primary_key=True, unique=True, nullable=False)
    registered_at = Column(BigInteger, nullable=True)  # Unix timestamp
    lang = Column(String, default="en", nullable=False)
    link = Column(String, nullable=True)  # Referral link
    file_mode = Column(Boolean, default=False, nullable=False)
    ad_count = Column(Integer, default=0, nullable=False)
    ad_cooldown = Column(BigInteger, default=0, nullable=False)  # Unix timestamp


class Video(Base):
    __tablename__ = "videos"
    pk_id = Column(BigInteger, primary_key=True, autoincrement=True, nullable=False)
    user_id = Column(BigInteger, ForeignKey("users.user_id"), nullable=False)
    downloaded_at = Column(BigInteger, nullable=True)  # Unix timestamp
    video_link = Column(String, nullable=False)
    is_images = Column(Boolean, default=False, nullable=False)  # Slideshow?
    is_processed = Column(Boolean, default=False, nullable=False)  # Image converted?
    is_inline = Column(Boolean, default=False, nullable=False)  # Inline query?


class Music(Base):
    __tablename__ = "music"
    pk_id = Column(BigInteger, primary_key=True, autoincrement=True, nullable=False)
    user_id = Column(BigInteger, ForeignKey("users.user_id"), nullable=False)
    downloaded_at = Column(BigInteger, nullable=True)  # Unix timestamp
    video_id = Column(BigInteger, nullable=False)  # TikTok video ID
