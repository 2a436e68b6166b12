//! Writes to several tables sent to the database together. A batch of
//! ingested messages writes six tables; sent one statement at a time that
//! is six round trips to PostgreSQL, and on SQLite a hand-off per statement
//! to the thread that runs the connection. A [`WriteSet`] collects rows,
//! table by table, and [`Tx::apply`] writes them at once: on SQLite in one
//! native section (see `native`), a prepared statement per table run once
//! per row; on PostgreSQL as one statement of multi-row writes, all but the
//! last of them data-modifying CTEs.

use std::borrow::Cow;

use sqlx::Arguments as _;
use sqlx::postgres::PgArguments;
use sqlx::sqlite::SqliteArguments;

use super::jobs::JobRow;
use super::{Result, SqliteTx, StoreError, Tx, TxInner, native};

/// The most values one sqlx sending binds: within SQLite's limit per
/// statement (32,766) and PostgreSQL's (65,535), which there counts the
/// whole sending, since a sending is one statement.
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

/// How each row of a [`Rows`] is written.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// `INSERT INTO {table} ({columns}) VALUES (…){tail}`.
    Insert {
        columns: &'static str,
        tail: &'static str,
    },
    /// `UPDATE {table} SET {set} WHERE id = …`: a row's first value is the
    /// id of the row it updates, and `set` names the others `{2}`, `{3}`, ….
    UpdateById { set: &'static str },
}

/// Rows written to one table in one shape, their values row after row.
struct Rows<'a> {
    table: &'static str,
    /// The statement returns the jobs it inserted (see
    /// [`WriteSet::insert_values`]).
    returns_jobs: bool,
    /// The table whose earlier writes in the set these must follow; `None`
    /// for rows no other write of the set touches or depends on.
    ordered_on: Option<&'static str>,
    shape: Shape,
    width: usize,
    values: Vec<Value<'a>>,
}

impl Rows<'_> {
    /// The statement that writes one row, its values bound as `$1`, `$2`, ….
    fn single_row_sql(&self) -> String {
        match self.shape {
            Shape::Insert { columns, tail } => {
                let placeholders: Vec<String> = (1..=self.width).map(|n| format!("${n}")).collect();
                format!(
                    "INSERT INTO {} ({columns}) VALUES ({}){tail}",
                    self.table,
                    placeholders.join(", ")
                )
            }
            Shape::UpdateById { set } => {
                let mut set = set.to_string();
                for n in 2..=self.width {
                    set = set.replace(&format!("{{{n}}}"), &format!("${n}"));
                }
                format!("UPDATE {} SET {set} WHERE id = $1", self.table)
            }
        }
    }
}

/// Writes collected to be sent together by [`Tx::apply`], in order.
#[derive(Default)]
pub struct WriteSet<'a> {
    writes: Vec<Rows<'a>>,
}

/// The values of one row, bound in column order.
pub(crate) struct RowValues<'w, 'a> {
    values: &'w mut Vec<Value<'a>>,
}

impl<'a> RowValues<'_, 'a> {
    pub(crate) fn column(&mut self, value: impl Into<Value<'a>>) -> &mut Self {
        self.values.push(value.into());
        self
    }
}

impl<'a> WriteSet<'a> {
    /// Inserts a row per item into `table`, whose values `row` binds in the
    /// order of `columns`, each followed by `tail` (an `ON CONFLICT`
    /// clause, say). The rows of one table are written in order: event ids
    /// follow the log's order, and an alert resolved in a batch is written
    /// before the new alert of its key.
    pub(crate) fn insert<T>(
        &mut self,
        table: &'static str,
        columns: &'static str,
        items: &'a [T],
        tail: &'static str,
        row: impl FnMut(&mut RowValues<'_, 'a>, &'a T),
    ) {
        self.insert_rows(table, Some(table), columns, items, tail, row);
    }

    /// [`WriteSet::insert`], in order after the set's other writes to
    /// `ordered_on`; `None` for rows no other write of the set touches or
    /// depends on, which PostgreSQL may write alongside the others.
    pub(crate) fn insert_rows<T>(
        &mut self,
        table: &'static str,
        ordered_on: Option<&'static str>,
        columns: &'static str,
        items: &'a [T],
        tail: &'static str,
        row: impl FnMut(&mut RowValues<'_, 'a>, &'a T),
    ) {
        let width = columns.split(',').count();
        self.push(
            table,
            ordered_on,
            Shape::Insert { columns, tail },
            width,
            items,
            row,
        );
    }

    /// Updates a row of `table` per item: `row` binds the row's id, then
    /// the values `set` names `{2}`, `{3}`, … (`width` values in all); in
    /// order after the set's other writes to `ordered_on` (see
    /// [`WriteSet::insert_rows`]).
    pub(crate) fn update_by_id<T>(
        &mut self,
        table: &'static str,
        ordered_on: Option<&'static str>,
        set: &'static str,
        width: usize,
        items: &'a [T],
        row: impl FnMut(&mut RowValues<'_, 'a>, &'a T),
    ) {
        self.push(
            table,
            ordered_on,
            Shape::UpdateById { set },
            width,
            items,
            row,
        );
    }

    fn push<T>(
        &mut self,
        table: &'static str,
        ordered_on: Option<&'static str>,
        shape: Shape,
        width: usize,
        items: &'a [T],
        mut row: impl FnMut(&mut RowValues<'_, 'a>, &'a T),
    ) {
        if items.is_empty() {
            return;
        }
        let mut values = Vec::with_capacity(items.len() * width);
        for item in items {
            let before = values.len();
            row(
                &mut RowValues {
                    values: &mut values,
                },
                item,
            );
            debug_assert_eq!(
                values.len() - before,
                width,
                "a row of {table} binds {width} values"
            );
        }
        self.writes.push(Rows {
            table,
            returns_jobs: false,
            ordered_on,
            shape,
            width,
            values,
        });
    }

    /// Inserts jobs whose values are given, row after row, in the order of
    /// `columns`; `tail` returns the jobs inserted, which
    /// [`Tx::send_returning_jobs`] reads. Written last, after every other
    /// write of the set.
    pub(crate) fn insert_values(
        &mut self,
        table: &'static str,
        columns: &'static str,
        tail: &'static str,
        values: Vec<Value<'a>>,
    ) {
        if values.is_empty() {
            return;
        }
        self.writes.push(Rows {
            table,
            returns_jobs: true,
            ordered_on: Some(table),
            shape: Shape::Insert { columns, tail },
            width: columns.split(',').count(),
            values,
        });
    }

    /// Writes every row on SQLite, one prepared statement per table and
    /// shape, in the order collected; returns the jobs a job insert
    /// returned.
    fn write_natively(&self, connection: &native::Connection) -> Result<Vec<JobRow>> {
        let mut jobs = Vec::new();
        for rows in &self.writes {
            let sql = rows.single_row_sql();
            for row in rows.values.chunks(rows.width.max(1)) {
                if rows.returns_jobs {
                    jobs.extend(connection.query(&sql, row, JobRow::read)?);
                } else {
                    connection.execute(&sql, row)?;
                }
            }
        }
        Ok(jobs)
    }

    /// The multi-row statements that write the set through sqlx on SQLite,
    /// each sending with its values.
    fn sqlite_sendings(&self) -> Vec<Sending<'_, 'a>> {
        let mut sendings: Vec<Sending<'_, 'a>> = Vec::new();
        for rows in &self.writes {
            let per_statement = super::rows_per_statement(rows.width);
            for chunk in rows.values.chunks(per_statement * rows.width.max(1)) {
                let fits = sendings.last().is_some_and(|sending| {
                    sending.values.len() + chunk.len() <= MAX_BINDS
                        && rows
                            .ordered_on
                            .is_none_or(|table| !sending.tables.contains(&table))
                });
                if !fits {
                    sendings.push(Sending::default());
                }
                let sending = sendings.last_mut().expect("a sending was just pushed");
                sending.tables.extend(rows.ordered_on);
                sending.small &= super::cache_statement(chunk.len() / rows.width.max(1));
                let first = sending.values.len() + 1;
                sending.statements.push(multi_row_sql(
                    rows,
                    chunk.len() / rows.width.max(1),
                    first,
                ));
                sending.values.extend(chunk);
            }
        }
        sendings
    }
}

impl WriteSet<'_> {
    /// The statements that write the set on PostgreSQL, each sending one
    /// statement of CTEs. A table's rows are bound as one array per
    /// column and unnested, so a statement's text does not depend on how
    /// many rows it writes: PostgreSQL prepares it once, where a
    /// `VALUES` list of every length was parsed and planned anew.
    fn postgres_sendings(&self) -> Result<Vec<PgSending<'_>>> {
        let mut sendings: Vec<PgSending<'_>> = Vec::new();
        for rows in &self.writes {
            let fits = sendings.last().is_some_and(|sending| {
                rows.ordered_on
                    .is_none_or(|table| !sending.tables.contains(&table))
            });
            if !fits {
                sendings.push(PgSending::default());
            }
            let sending = sendings.last_mut().expect("a sending was just pushed");
            sending.tables.extend(rows.ordered_on);
            let first = sending.columns.len() + 1;
            sending.statements.push(unnest_sql(rows, first));
            sending.columns.extend(columns_of(rows)?);
        }
        Ok(sendings)
    }
}

/// A statement's values on PostgreSQL, a column at a time.
#[derive(Debug)]
enum Column<'s> {
    Ints(Vec<Option<i64>>),
    Texts(Vec<Option<&'s str>>),
}

#[derive(Default)]
struct PgSending<'s> {
    statements: Vec<String>,
    /// The tables written in order (see [`Rows::ordered_on`]).
    tables: Vec<&'static str>,
    columns: Vec<Column<'s>>,
}

/// The columns of `rows`, each typed by its first row's value (a value is
/// typed even when null).
fn columns_of<'s>(rows: &'s Rows<'_>) -> Result<Vec<Column<'s>>> {
    let width = rows.width.max(1);
    let mut columns: Vec<Column<'s>> = rows.values[..width]
        .iter()
        .map(|value| match value {
            Value::Int(_) => Column::Ints(Vec::with_capacity(rows.values.len() / width)),
            Value::Text(_) => Column::Texts(Vec::with_capacity(rows.values.len() / width)),
        })
        .collect();
    for row in rows.values.chunks(width) {
        for (at, (column, value)) in columns.iter_mut().zip(row).enumerate() {
            match (column, value) {
                (Column::Ints(values), Value::Int(value)) => values.push(*value),
                (Column::Texts(values), Value::Text(value)) => values.push(value.as_deref()),
                _ => {
                    return Err(StoreError::Other(anyhow::anyhow!(
                        "column {} of a write to {} mixes integers and text",
                        at + 1,
                        rows.table
                    )));
                }
            }
        }
    }
    Ok(columns)
}

/// `rows` in one statement that unnests one array per column, bound from
/// `$first` on.
fn unnest_sql(rows: &Rows<'_>, first: usize) -> String {
    let width = rows.width.max(1);
    let arrays: Vec<String> = rows.values[..width]
        .iter()
        .enumerate()
        .map(|(at, value)| {
            let kind = match value {
                Value::Int(_) => "bigint",
                Value::Text(_) => "text",
            };
            format!("${}::{kind}[]", first + at)
        })
        .collect();
    let arrays = arrays.join(", ");
    match rows.shape {
        Shape::Insert { columns, tail } => {
            format!(
                "INSERT INTO {} ({columns}) SELECT * FROM UNNEST({arrays}){tail}",
                rows.table
            )
        }
        Shape::UpdateById { set } => {
            let mut set = set.to_string();
            for n in 2..=width {
                set = set.replace(&format!("{{{n}}}"), &format!("given.c{n}"));
            }
            let names: Vec<String> = (1..=width).map(|n| format!("c{n}")).collect();
            format!(
                "UPDATE {table} SET {set} FROM UNNEST({arrays}) AS given({names}) WHERE {table}.id = given.c1",
                table = rows.table,
                names = names.join(", ")
            )
        }
    }
}

/// Statements sent through sqlx to SQLite at once, as one script.
struct Sending<'s, 'a> {
    statements: Vec<String>,
    /// The tables written in order (see [`Rows::ordered_on`]).
    tables: Vec<&'static str>,
    values: Vec<&'s Value<'a>>,
    /// Every statement is small enough to keep prepared (see
    /// [`super::cache_statement`]).
    small: bool,
}

impl Default for Sending<'_, '_> {
    fn default() -> Self {
        Sending {
            statements: Vec::new(),
            tables: Vec::new(),
            values: Vec::new(),
            small: true,
        }
    }
}

/// `rows` rows of `rows.shape` in one statement, binding `$first` onwards.
fn multi_row_sql(rows: &Rows<'_>, count: usize, first: usize) -> String {
    let mut values = String::new();
    for n in 0..count {
        values.push_str(if n == 0 { "(" } else { ", (" });
        for column in 0..rows.width {
            if column > 0 {
                values.push_str(", ");
            }
            values.push_str(&format!("${}", first + n * rows.width + column));
        }
        values.push(')');
    }
    match rows.shape {
        Shape::Insert { columns, tail } => {
            format!(
                "INSERT INTO {} ({columns}) VALUES {values}{tail}",
                rows.table
            )
        }
        Shape::UpdateById { set } => {
            let mut set = set.to_string();
            for n in 2..=rows.width {
                set = set.replace(&format!("{{{n}}}"), &format!("given.column{n}"));
            }
            format!(
                "UPDATE {table} SET {set} FROM (VALUES {values}) AS given WHERE {table}.id = given.column1",
                table = rows.table
            )
        }
    }
}

impl Tx {
    /// A set of writes for this transaction.
    pub fn writes<'a>(&self) -> WriteSet<'a> {
        WriteSet::default()
    }

    /// Writes what was collected, in order, at once: natively a prepared
    /// statement per table run once per row; through sqlx in as few
    /// sendings as the limit on bound values allows, to SQLite as one
    /// script, to PostgreSQL as one statement each.
    pub async fn apply(&mut self, writes: WriteSet<'_>) -> Result<()> {
        self.send_returning_jobs(writes).await.map(drop)
    }

    /// [`Tx::apply`], returning the jobs the set's job insert returned.
    pub(super) async fn send_returning_jobs(
        &mut self,
        writes: WriteSet<'_>,
    ) -> Result<Vec<JobRow>> {
        if writes.writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut jobs = Vec::new();
        match &mut self.inner {
            TxInner::Native(write) => jobs = writes.write_natively(write.connection())?,
            TxInner::Sqlite(SqliteTx::Read(_)) => {
                return Err(StoreError::Other(anyhow::anyhow!(
                    "writes were sent in a read transaction"
                )));
            }
            TxInner::Sqlite(transaction) => {
                for sending in writes.sqlite_sendings() {
                    let sql = sqlx::AssertSqlSafe(sending.statements.join(";\n"));
                    jobs.extend(
                        sqlx::query_as_with::<_, JobRow, _>(
                            sql,
                            sqlite_arguments(sending.values.iter().copied())?,
                        )
                        .persistent(sending.small)
                        .fetch_all(&mut **transaction)
                        .await?,
                    );
                }
            }
            TxInner::Postgres(transaction) => {
                for sending in writes.postgres_sendings()? {
                    let sql = sqlx::AssertSqlSafe(as_one_statement(&sending.statements));
                    let mut arguments = PgArguments::default();
                    for column in sending.columns {
                        match column {
                            Column::Ints(values) => arguments.add(values),
                            Column::Texts(values) => arguments.add(values),
                        }
                        .map_err(|e| anyhow::anyhow!("binding a column: {e}"))?;
                    }
                    jobs.extend(
                        sqlx::query_as_with::<_, JobRow, _>(sql, arguments)
                            .fetch_all(&mut **transaction)
                            .await?,
                    );
                }
            }
        }
        Ok(jobs)
    }
}

/// `values` bound for a sqlx SQLite statement.
pub(super) fn sqlite_arguments<'v, 'a: 'v>(
    values: impl IntoIterator<Item = &'v Value<'a>>,
) -> Result<SqliteArguments> {
    let mut arguments = SqliteArguments::default();
    for value in values {
        match value {
            Value::Int(v) => arguments.add(*v),
            Value::Text(v) => arguments.add(v.as_deref().map(str::to_string)),
        }
        .map_err(|e| anyhow::anyhow!("binding a value: {e}"))?;
    }
    Ok(arguments)
}

/// `values` bound for a PostgreSQL statement.
pub(super) fn postgres_arguments<'v, 'a: 'v>(
    values: impl IntoIterator<Item = &'v Value<'a>>,
) -> Result<PgArguments> {
    let mut arguments = PgArguments::default();
    for value in values {
        match value {
            Value::Int(v) => arguments.add(*v),
            Value::Text(v) => arguments.add(v.as_deref()),
        }
        .map_err(|e| anyhow::anyhow!("binding a value: {e}"))?;
    }
    Ok(arguments)
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
    use super::{Column, Value, WriteSet};

    fn one_row<'a>(
        writes: &mut WriteSet<'a>,
        table: &'static str,
        ordered_on: Option<&'static str>,
    ) {
        writes.insert_rows(table, ordered_on, "id", &[1i64], "", |row, id| {
            row.column(*id);
        });
    }

    #[test]
    fn writes_to_one_table_are_sent_in_order_unless_independent() {
        let mut writes = WriteSet::default();
        one_row(&mut writes, "alerts", Some("alerts"));
        one_row(&mut writes, "events", Some("events"));
        // Rows no other statement depends on join the same sending.
        one_row(&mut writes, "alerts", None);
        assert_eq!(writes.sqlite_sendings().len(), 1);
        assert_eq!(writes.postgres_sendings().unwrap().len(), 1);
        // A second ordered write to a table starts the next one.
        one_row(&mut writes, "alerts", Some("alerts"));
        let sendings = writes.sqlite_sendings();
        assert_eq!(sendings.len(), 2);
        assert_eq!(sendings[0].statements.len(), 3);
        assert_eq!(sendings[0].values.len(), 3);
        let sendings = writes.postgres_sendings().unwrap();
        assert_eq!(sendings.len(), 2);
        assert_eq!(sendings[0].statements.len(), 3);
        assert_eq!(sendings[0].columns.len(), 3);
    }

    /// Natively a row at a time; through sqlx on SQLite as multi-row
    /// statements; on PostgreSQL as one array per column, in text that is
    /// the same whatever the number of rows.
    #[test]
    fn each_connection_gets_rows_in_its_own_shape() {
        let mut writes = WriteSet::default();
        writes.update_by_id(
            "alert_groups",
            Some("alert_groups"),
            "alert_count = alert_count + {2}, last_alert_at = {3}",
            3,
            &[(7i64, 2i64), (9, 1)],
            |row, (id, added)| {
                row.column(*id).column(*added).column(100);
            },
        );
        writes.insert(
            "events",
            "at, action",
            &[1i64, 2],
            " ON CONFLICT DO NOTHING",
            |row, at| {
                row.column(*at)
                    .column(if *at == 1 { Some("a") } else { None });
            },
        );
        assert_eq!(
            writes.writes[0].single_row_sql(),
            "UPDATE alert_groups SET alert_count = alert_count + $2, last_alert_at = $3 WHERE id = $1"
        );
        assert_eq!(
            writes.writes[1].single_row_sql(),
            "INSERT INTO events (at, action) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        );
        let sendings = writes.sqlite_sendings();
        assert_eq!(sendings.len(), 1);
        assert_eq!(
            sendings[0].statements,
            [
                "UPDATE alert_groups SET alert_count = alert_count + given.column2, last_alert_at = given.column3 FROM (VALUES ($1, $2, $3), ($4, $5, $6)) AS given WHERE alert_groups.id = given.column1",
                "INSERT INTO events (at, action) VALUES ($7, $8), ($9, $10) ON CONFLICT DO NOTHING",
            ]
        );
        assert_eq!(sendings[0].values.len(), 10);
        let sendings = writes.postgres_sendings().unwrap();
        assert_eq!(sendings.len(), 1);
        assert_eq!(
            sendings[0].statements,
            [
                "UPDATE alert_groups SET alert_count = alert_count + given.c2, last_alert_at = given.c3 FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[]) AS given(c1, c2, c3) WHERE alert_groups.id = given.c1",
                "INSERT INTO events (at, action) SELECT * FROM UNNEST($4::bigint[], $5::text[]) ON CONFLICT DO NOTHING",
            ]
        );
        assert!(matches!(&sendings[0].columns[0], Column::Ints(ids) if ids == &[Some(7), Some(9)]));
        assert!(
            matches!(&sendings[0].columns[4], Column::Texts(actions) if actions == &[Some("a"), None])
        );
    }

    #[test]
    fn a_column_that_mixes_integers_and_text_is_refused() {
        let mut writes = WriteSet::default();
        writes.insert("events", "at", &[1i64, 2], "", |row, at| {
            row.column(if *at == 1 {
                Value::from(1)
            } else {
                Value::from("two")
            });
        });
        assert!(writes.postgres_sendings().is_err());
    }
}
