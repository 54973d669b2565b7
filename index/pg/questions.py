"""Questions asked and the 👍/👎 they got, in PostgreSQL (index/storage.py QuestionLog)."""

from __future__ import annotations

from index.pg.connections import Connections
from index.records import utc_now
from index.results import QuestionStats


class PgQuestions:
    def __init__(self, database: Connections) -> None:
        self._database = database

    def log_question(self, scope: str, user_id: int | None, question: str,
                     abstained: bool) -> int:
        with self._database.transaction() as connection:
            row = connection.execute(
                "INSERT INTO questions (scope, user_id, question, abstained, asked_at) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (scope, user_id, question, abstained, utc_now())).fetchone()
        return int(row[0])

    def record_feedback(self, question_id: int, user_id: int, vote: int) -> None:
        with self._database.transaction() as connection:
            connection.execute(
                "INSERT INTO feedback (question_id, user_id, vote, voted_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (question_id, user_id) "
                "DO UPDATE SET vote = excluded.vote, voted_at = excluded.voted_at",
                (question_id, user_id, vote, utc_now()))

    def question_exists(self, question_id: int) -> bool:
        with self._database.connection() as connection:
            row = connection.execute("SELECT 1 FROM questions WHERE id = %s",
                                     (question_id,)).fetchone()
        return row is not None

    def question_stats(self, scope: str, top: int) -> QuestionStats:
        with self._database.connection() as connection:
            asked, unanswered = connection.execute(
                "SELECT count(*), count(*) FILTER (WHERE abstained) FROM questions "
                "WHERE scope = %s", (scope,)).fetchone()
            top_unanswered = connection.execute(
                "SELECT lower(question), count(*) AS n FROM questions "
                "WHERE scope = %s AND abstained GROUP BY lower(question) "
                "ORDER BY n DESC, max(asked_at) DESC LIMIT %s", (scope, top)).fetchall()
            downvoted = connection.execute(
                "SELECT q.question, count(*) AS n FROM feedback f JOIN questions q "
                "ON q.id = f.question_id WHERE q.scope = %s AND f.vote < 0 GROUP BY q.id "
                "ORDER BY n DESC, max(f.voted_at) DESC LIMIT %s", (scope, top)).fetchall()
        return QuestionStats(
            asked=int(asked), unanswered=int(unanswered),
            top_unanswered=[(question, int(n)) for question, n in top_unanswered],
            downvoted=[(question, int(n)) for question, n in downvoted])
