// The client session of TestClients (sqlfront/clienttest) through JDBC with
// MariaDB Connector/J (Debian libmariadb-java), run as
//   java -cp /usr/share/java/mariadb-java-client.jar Session.java
// Connection settings come from COHORT_HOST, COHORT_PORT, COHORT_USER,
// COHORT_PASSWORD and COHORT_DB. Prints "key: value" lines.

import java.sql.*;
import java.util.*;

public class Session {
    static String url(String extra) {
        return "jdbc:mariadb://" + System.getenv("COHORT_HOST") + ":" + System.getenv("COHORT_PORT") + "/"
                + System.getenv("COHORT_DB") + "?useSsl=true&trustServerCertificate=true" + extra;
    }

    static Connection connect(String extra) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", System.getenv("COHORT_USER"));
        p.setProperty("password", System.getenv("COHORT_PASSWORD"));
        return DriverManager.getConnection(url(extra), p);
    }

    static String join(ResultSet rs, int ncols) throws SQLException {
        List<String> rows = new ArrayList<>();
        while (rs.next()) {
            List<String> row = new ArrayList<>();
            for (int i = 1; i <= ncols; i++) {
                String v = rs.getString(i);
                row.add(v == null ? "NULL" : v);
            }
            rows.add(String.join(" ", row));
        }
        rs.close();
        return String.join("|", rows);
    }

    static void rows(Statement st, String key, String sql, int ncols) throws SQLException {
        ResultSet rs = st.executeQuery(sql);
        int n = ncols > 0 ? ncols : rs.getMetaData().getColumnCount();
        System.out.println(key + ": " + join(rs, n));
    }

    static void prepared(Connection c, String suffix) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM profiles WHERE country = ? AND age > ?")) {
            ps.setString(1, "DE");
            ps.setInt(2, 30);
            System.out.println("prepared" + suffix + ": " + join(ps.executeQuery(), 1));
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT person_id, `plan`, age FROM profiles WHERE person_id = ?")) {
            ps.setLong(1, 3);
            System.out.println("prepared_row" + suffix + ": " + join(ps.executeQuery(), 3));
        }
    }

    public static void main(String[] args) throws Exception {
        String db = System.getenv("COHORT_DB");
        try (Connection c = connect("")) {
            Statement st = c.createStatement();
            rows(st, "databases", "SHOW DATABASES", 0);
            rows(st, "tables", "SHOW TABLES", 0);
            rows(st, "describe", "DESCRIBE profiles", 2);
            rows(st, "count", "SELECT COUNT(*) FROM profiles WHERE country = 'US' AND age >= 18", 0);
            rows(st, "group", "SELECT `plan`, COUNT(*) FROM profiles WHERE age >= 18 GROUP BY `plan` ORDER BY `plan`", 0);
            rows(st, "limit", "SELECT person_id, country FROM profiles ORDER BY person_id LIMIT 5", 0);
            prepared(c, ""); // client-side prepared statements (the driver's default)

            // DatabaseMetaData as BI tools call it.
            DatabaseMetaData md = c.getMetaData();
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(db, null, "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    tables.add(rs.getString("TABLE_NAME"));
                }
            }
            System.out.println("meta_tables: " + String.join("|", tables));
            List<String> cols = new ArrayList<>(), types = new ArrayList<>();
            try (ResultSet rs = md.getColumns(db, null, "profiles", "%")) {
                while (rs.next()) {
                    cols.add(rs.getString("COLUMN_NAME"));
                    types.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME") + " " + rs.getInt("DATA_TYPE"));
                }
            }
            System.out.println("meta_columns: " + String.join("|", cols));
            System.out.println("meta_column_types: " + String.join("|", types));
            try (ResultSet rs = md.getPrimaryKeys(db, null, "profiles")) {
                System.out.println("meta_primary_key: " + (rs.next() ? rs.getString("COLUMN_NAME") : ""));
            }

            int n = st.executeUpdate("INSERT INTO profiles (email, country, `plan`, age) VALUES ('new@client.example', 'ZZ', 'pro', 42)");
            System.out.println("insert: " + n);
            rows(st, "inserted", "SELECT COUNT(*), MAX(age) FROM profiles WHERE country = 'ZZ'", 0);
        }
        try (Connection c = connect("&useServerPrepStmts=true")) {
            prepared(c, "_server"); // server-side (binary protocol) prepared statements
        }
    }
}
