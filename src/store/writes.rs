//! Writes to several tables sent to the database together. A batch of
//! ingested messages writes six tables; sent one statement at a time that
//! is six round trips to PostgreSQL and six hand-offs to the thread that
//! runs a SQLite connection, each a wait on the page's path. A [`WriteSet`]
//! collects the statements and [`Tx::apply`] sends them at once: to SQLite
//! as one script of `;`-separated statements, to PostgreSQL as one
//! statement whose writes but the last are data-modifying CTEs.

use std::borrow::Cow;

use sqlx::Arguments as _;
use sqlx::postgres::PgArguments;
use sqlx::sqlite::SqliteArguments;

use super::{Backend, Result, Tx, TxInner};

/// The most values one sending binds: within SQLite's limit per statement
/// (32,766) and PostgreSQL's (65,535), which here counts the whole sending,
/// since on PostgreSQL a sending is one statement.
const MAX_BINDS: usize = 30_000;

/// One bound value. Typed even when null: PostgreSQL is told each
/// parameter's type.
#[derive(Debug)]
pub(crate) enum Value<'a> {
    Int(Option<i64>),
    Text(Option<Cow<'a, str>>),
}

impl From<i64> for Value<'_> {
    fn from(value: i64) -> Self {
        Value::Int(Some(value))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(value: Option<i64>) -> Self {
        Value::Int(value)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(value: &'a str) -> Self {
        Value::Text(Some(Cow::Borrowed(value)))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(value: Option<&'a str>) -> Self {
        Value::Text(value.map(Cow::Borrowed))
    }
}

impl From<String> for Value<'_> {
    fn from(value: String) -> Self {
        Value::Text(Some(Cow::Owned(value)))
    }
}

impl From<Option<String>> for Value<'_> {
    fn from(value: Option<String>) -> Self {
        Value::Text(value.map(Cow::Owned))
    }
}

/// Statements sent in one go, with their values in the order they bind.
#[derive(Default)]
struct Sending<'a> {
    statements: Vec<String>,
    /// The tables written in order (see [`WriteSet::statement`]).
    tables: Vec<&'static str>,
    values: Vec<Value<'a>>,
    /// Every statement is small enough to keep prepared (see
    /// [`super::cache_statement`]).
    small: bool,
}

/// Writes collected to be sent together by [`Tx::apply`], in order.
pub struct WriteSet<'a> {
    backend: Backend,
    sendings: Vec<Sending<'a>>,
}

impl<'a> WriteSet<'a> {
    fn new(backend: Backend) -> Self {
        WriteSet {
            backend,
            sendings: Vec::new(),
        }
    }

    /// Starts a statement writing `table`, of `rows` rows binding `binds`
    /// values. It is sent with those before it unless together they would
    /// bind too many, or one of them writes the same table: PostgreSQL
    /// does not promise in which order the parts of one statement run, and
    /// the rows of one table are written in order (event ids follow the
    /// log's order; an alert resolved in a batch is written before the
    /// new alert of its key).
    pub(crate) fn statement(
        &mut self,
        table: &'static str,
        rows: usize,
        binds: usize,
    ) -> Statement<'_, 'a> {
        self.start(Some(table), rows, binds)
    }

    /// `ordered_on`: the table whose writes this one must follow; `None`
    /// for rows no other statement of the set writes or depends on.
    fn start(
        &mut self,
        ordered_on: Option<&'static str>,
        rows: usize,
        binds: usize,
    ) -> Statement<'_, 'a> {
        let fits = self.sendings.last().is_some_and(|sending| {
            sending.values.len() + binds <= MAX_BINDS
                && ordered_on.is_none_or(|table| !sending.tables.contains(&table))
        });
        if !fits {
            self.sendings.push(Sending {
                small: true,
                ..Sending::default()
            });
        }
        let sending = self.sendings.last_mut().expect("a sending was just pushed");
        sending.small &= super::cache_statement(rows);
        sending.statements.push(String::new());
        sending.tables.extend(ordered_on);
        Statement {
            backend: self.backend,
            sending,
            in_row: false,
        }
    }

    /// `INSERT INTO {table} ({columns}) VALUES …` with a row per item, whose
    /// values `row` binds with [`Statement::column`], then `tail` (an
    /// `ON CONFLICT` clause, say); in statements of at most
    /// [`super::rows_per_statement`] rows.
    pub(crate) fn insert<T>(
        &mut self,
        table: &'static str,
        columns: &str,
        items: &'a [T],
        tail: &str,
        row: impl FnMut(&mut Statement<'_, 'a>, &'a T),
    ) {
        self.insert_rows(table, Some(table), columns, items, tail, row);
    }

    /// [`WriteSet::insert`], in order after the set's other writes to
    /// `ordered_on`; `None` for rows no other statement of the set writes
    /// or depends on, which go with the others whatever they write.
    pub(crate) fn insert_rows<T>(
        &mut self,
        table: &'static str,
        ordered_on: Option<&'static str>,
        columns: &str,
        items: &'a [T],
        tail: &str,
        mut row: impl FnMut(&mut Statement<'_, 'a>, &'a T),
    ) {
        let width = columns.split(',').count();
        for chunk in items.chunks(super::rows_per_statement(width)) {
            let mut statement = self.start(ordered_on, chunk.len(), chunk.len() * width);
            statement.sql(&format!("INSERT INTO {table} ({columns}) VALUES "));
            for (n, item) in chunk.iter().enumerate() {
                statement.sql(if n == 0 { "(" } else { ", (" });
                statement.in_row = false;
                row(&mut statement, item);
                statement.sql(")");
            }
            statement.sql(tail);
        }
    }
}

/// The statement being written: SQL text and the values it binds.
pub(crate) struct Statement<'w, 'a> {
    backend: Backend,
    sending: &'w mut Sending<'a>,
    /// A row's first column is bound already.
    in_row: bool,
}

impl<'a> Statement<'_, 'a> {
    pub(crate) fn sql(&mut self, text: &str) -> &mut Self {
        self.sending
            .statements
            .last_mut()
            .expect("a statement was started")
            .push_str(text);
        self
    }

    /// Binds `value` here in the text.
    pub(crate) fn bind(&mut self, value: impl Into<Value<'a>>) -> &mut Self {
        self.sending.values.push(value.into());
        match self.backend {
            Backend::Sqlite => self.sql("?"),
            Backend::Postgres => {
                let placeholder = format!("${}", self.sending.values.len());
                self.sql(&placeholder)
            }
        }
    }

    /// Binds the next value of a row of [`WriteSet::insert`].
    pub(crate) fn column(&mut self, value: impl Into<Value<'a>>) -> &mut Self {
        if std::mem::replace(&mut self.in_row, true) {
            self.sql(", ");
        }
        self.bind(value)
    }
}

impl Tx {
    /// A set of writes for this transaction's backend.
    pub fn writes<'a>(&self) -> WriteSet<'a> {
        WriteSet::new(self.backend())
    }

    /// Sends the writes collected, in order, at once (or in as few goes as
    /// the limits on bound values allow).
    pub async fn apply(&mut self, writes: WriteSet<'_>) -> Result<()> {
        for sending in writes.sendings {
            let sql = match writes.backend {
                Backend::Sqlite => sending.statements.join(";\n"),
                Backend::Postgres => as_one_statement(&sending.statements),
            };
            let sql = sqlx::AssertSqlSafe(sql);
            match &mut self.inner {
                TxInner::Sqlite(transaction) => {
                    let mut arguments = SqliteArguments::default();
                    for value in sending.values {
                        match value {
                            Value::Int(v) => arguments.add(v),
                            Value::Text(v) => arguments.add(v.map(Cow::into_owned)),
                        }
                        .map_err(|e| anyhow::anyhow!("binding a value: {e}"))?;
                    }
                    sqlx::query_with(sql, arguments)
                        .persistent(sending.small)
                        .execute(&mut **transaction)
                        .await?;
                }
                TxInner::Postgres(transaction) => {
                    let mut arguments = PgArguments::default();
                    for value in &sending.values {
                        match value {
                            Value::Int(v) => arguments.add(*v),
                            Value::Text(v) => arguments.add(v.as_deref()),
                        }
                        .map_err(|e| anyhow::anyhow!("binding a value: {e}"))?;
                    }
                    sqlx::query_with(sql, arguments)
                        .persistent(sending.small)
                        .execute(&mut **transaction)
                        .await?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(_) => Backend::Sqlite,
            TxInner::Postgres(_) => Backend::Postgres,
        }
    }
}

/// PostgreSQL: `WITH w1 AS (first), w2 AS (second) last`. Every statement
/// in a `WITH` runs to completion whether or not anything reads it, all see
/// the snapshot the statement started with, and foreign keys are checked
/// when the whole statement ends; so statements that only insert and
/// update rows no other one reads are written as if sent one by one.
fn as_one_statement(statements: &[String]) -> String {
    let Some((last, before)) = statements.split_last() else {
        return String::new();
    };
    if before.is_empty() {
        return last.clone();
    }
    let mut sql = String::from("WITH ");
    for (n, statement) in before.iter().enumerate() {
        if n > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("w{} AS ({statement})", n + 1));
    }
    sql.push(' ');
    sql.push_str(last);
    sql
}

#[cfg(test)]
mod tests {
    use super::{Backend, WriteSet};

    fn one_row(writes: &mut WriteSet<'_>, table: &'static str, ordered_on: Option<&'static str>) {
        writes.insert_rows(table, ordered_on, "id", &[1i64], "", |row, id| {
            row.column(*id);
        });
    }

    #[test]
    fn writes_to_one_table_are_sent_in_order_unless_independent() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let mut writes = WriteSet::new(backend);
            one_row(&mut writes, "alerts", Some("alerts"));
            one_row(&mut writes, "events", Some("events"));
            // Rows no other statement depends on join the same sending.
            one_row(&mut writes, "alerts", None);
            assert_eq!(writes.sendings.len(), 1);
            // A second ordered write to a table starts the next one.
            one_row(&mut writes, "alerts", Some("alerts"));
            assert_eq!(writes.sendings.len(), 2);
            assert_eq!(writes.sendings[0].statements.len(), 3);
            assert_eq!(writes.sendings[0].values.len(), 3);
        }
    }
}
