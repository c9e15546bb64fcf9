//! Reading a row's columns by position with either driver, so that one function turns a row into a value on
//! both backends.

/// A row whose columns are read by position.
pub(crate) trait Columns {
    type Error;
    fn column<T: for<'a> Column<'a>>(&self, i: usize) -> Result<T, Self::Error>;
}

/// A value both drivers read.
pub(crate) trait Column<'a>: rusqlite::types::FromSql + tokio_postgres::types::FromSql<'a> {}
impl<'a, T: rusqlite::types::FromSql + tokio_postgres::types::FromSql<'a>> Column<'a> for T {}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn column<T: for<'a> Column<'a>>(&self, i: usize) -> Result<T, rusqlite::Error> {
        self.get(i)
    }
}

impl Columns for tokio_postgres::Row {
    type Error = tokio_postgres::Error;
    fn column<T: for<'a> Column<'a>>(&self, i: usize) -> Result<T, tokio_postgres::Error> {
        self.try_get(i)
    }
}
