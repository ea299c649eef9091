//! Rows read by column name, whichever driver read them: sqlx's `Any` driver, either
//! back end's own, or rusqlite (the queue's list on SQLite). One function turns a row
//! into a record for every pool.

/// A column type every driver decodes (`Any` and both back ends' own).
pub trait ColType:
    for<'r> sqlx::Decode<'r, sqlx::Any>
    + sqlx::Type<sqlx::Any>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
    + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + rusqlite::types::FromSql
{
}

impl<T> ColType for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Any>
        + sqlx::Type<sqlx::Any>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + rusqlite::types::FromSql
{
}

/// A row read by column name, whichever driver read it, so that one function turns a
/// row into a record for both pools. Names are the code's own (`'static`): see
/// `SqliteRow`, which remembers where each was found by its address.
pub trait Cols {
    fn col<T: ColType>(&self, name: &'static str) -> Result<T, sqlx::Error>;
}

macro_rules! cols_for {
    ($($row:ty),*) => {$(
        impl Cols for $row {
            fn col<T: ColType>(&self, name: &'static str) -> Result<T, sqlx::Error> {
                sqlx::Row::try_get(self, name)
            }
        }
    )*};
}
cols_for!(
    sqlx::any::AnyRow,
    sqlx::postgres::PgRow,
    sqlx::sqlite::SqliteRow
);

/// Flags are BOOLEAN on PostgreSQL and 0/1 INTEGER on SQLite (whose BOOLEAN the `Any`
/// driver cannot decode).
pub fn flag(row: &impl Cols, col: &'static str) -> Result<bool, sqlx::Error> {
    row.col::<bool>(col)
        .or_else(|_| row.col::<i64>(col).map(|v| v != 0))
}

/// A statement's column names in order, each marked when no earlier column shares it,
/// and what the rows of one read asked for.
pub(super) struct ColumnTable {
    names: Vec<(String, bool)>,
    /// For the k-th column a row asks for: the name it asked by (the address and length
    /// of a `&'static str`) and the column that name found. Every row of a read is
    /// turned into a record by the same code, which asks for the same names in the same
    /// order, so the k-th ask of the next row is found without comparing a string: two
    /// `'static` strings at one address with one length hold the same bytes. A row that
    /// asks otherwise (a field read only for some rows) is looked up by name.
    asked: std::cell::RefCell<Vec<(usize, usize, usize)>>,
}

impl ColumnTable {
    pub(super) fn of(stmt: &rusqlite::Statement<'_>) -> Self {
        let mut names: Vec<(String, bool)> = Vec::with_capacity(stmt.column_count());
        for name in stmt.column_names() {
            let first = !names.iter().any(|(n, _)| n == name);
            names.push((name.to_owned(), first));
        }
        let asked = std::cell::RefCell::new(Vec::with_capacity(names.len()));
        Self { names, asked }
    }

    /// The column the `k`-th ask of an earlier row found, if it asked by `name` too.
    fn recall(&self, k: usize, name: &'static str) -> Option<usize> {
        let asked = self.asked.borrow();
        let &(at, len, index) = asked.get(k)?;
        (at == name.as_ptr() as usize && len == name.len()).then_some(index)
    }

    fn remember(&self, k: usize, name: &'static str, index: usize) {
        let mut asked = self.asked.borrow_mut();
        let entry = (name.as_ptr() as usize, name.len(), index);
        if let Some(slot) = asked.get_mut(k) {
            *slot = entry;
        } else if asked.len() == k {
            asked.push(entry);
        }
    }

    /// The first column called `name`, trying `hint` first: rows are read field by field
    /// in nearly the statement's order, so the column after the last one found is most
    /// often the next asked for.
    fn find(&self, name: &str, hint: usize) -> Option<usize> {
        match self.names.get(hint) {
            Some((n, true)) if n == name => Some(hint),
            _ => self.names.iter().position(|(n, _)| n == name),
        }
    }
}

/// A rusqlite row whose columns are found by name through the statement's own table:
/// rusqlite finds a name by asking SQLite for every column's name in turn, for every
/// value of every row.
pub(crate) struct SqliteRow<'a> {
    row: &'a rusqlite::Row<'a>,
    columns: &'a ColumnTable,
    /// The column after the last one found.
    next: std::cell::Cell<usize>,
    /// How many columns this row has been asked for.
    asked: std::cell::Cell<usize>,
}

impl<'a> SqliteRow<'a> {
    /// `row`, one of the rows of the statement `columns` was made of.
    pub(super) fn new(row: &'a rusqlite::Row<'a>, columns: &'a ColumnTable) -> Self {
        Self {
            row,
            columns,
            next: std::cell::Cell::new(0),
            asked: std::cell::Cell::new(0),
        }
    }
}

impl Cols for SqliteRow<'_> {
    fn col<T: ColType>(&self, name: &'static str) -> Result<T, sqlx::Error> {
        let k = self.asked.get();
        self.asked.set(k + 1);
        let index = match self.columns.recall(k, name) {
            Some(index) => index,
            None => {
                let index = self
                    .columns
                    .find(name, self.next.get())
                    .ok_or_else(|| sqlx::Error::ColumnNotFound(name.to_owned()))?;
                self.columns.remember(k, name, index);
                index
            }
        };
        self.next.set(index + 1);
        let undecodable = |e: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::ColumnDecode {
            index: name.to_owned(),
            source: e,
        };
        // The value as SQLite holds it, then the type's own conversion: `Row::get` would
        // also ask SQLite for the number of columns, and return rusqlite's whole error.
        let value = self.row.get_ref(index).map_err(|e| undecodable(e.into()))?;
        T::column_result(value).map_err(|e| undecodable(e.into()))
    }
}
