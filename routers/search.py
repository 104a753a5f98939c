from typing import Annotated

from fastapi import APIRouter, Query

from auth.current_user import CurrentUser
from routers.deps import Db
from search.query import Owner, SearchHit, search

router = APIRouter(tags=["search"])


# A title hit has no message: its message_id and role are left out rather than null.
@router.get("/search", response_model_exclude_none=True)
async def search_history(
    db: Db,
    user: CurrentUser,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words or text to find")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[SearchHit]:
    """Session titles and message text holding every term of `q`, best first, each with a snippet.

    A term is found anywhere in the text on SQLite, at the start of a word on PostgreSQL; CJK
    text is found as a substring on both. A reply still being written is found once it ends. Only
    the caller's sessions are searched.
    """
    return await db.run(search, q, limit=limit, owner=Owner(user.id))
