// JDBC (Debian's libpostgresql-jdbc-java) through pgbalancer in transaction mode, with
// prepareThreshold=1 so every statement is a named server-side prepared statement from its
// first execution. Each thread runs its statements across many transactions; prints what it
// saw as JSON for the pytest suite to check.
// Usage: java -cp postgresql.jar PreparedClient.java PORT USER PASSWORD DATABASE CLIENTS ROUNDS
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

public class PreparedClient {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/" + args[3]
        + "?prepareThreshold=1&sslmode=disable";
    String user = args[1], password = args[2];
    int clients = Integer.parseInt(args[4]), rounds = Integer.parseInt(args[5]);
    Set<Integer> pids = ConcurrentHashMap.newKeySet();
    Set<Boolean> serverPrepared = ConcurrentHashMap.newKeySet();
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    List<Future<Object>> done = new ArrayList<>();
    for (int i = 0; i < clients; i++) {
      final int id = i;
      done.add(pool.submit(() -> {
        try (Connection c = DriverManager.getConnection(url, user, password);
             PreparedStatement add = c.prepareStatement("SELECT ?::int + ?::int, pg_backend_pid()");
             PreparedStatement echo = c.prepareStatement("SELECT ?::text")) {
          for (int r = 0; r < rounds; r++) {
            add.setInt(1, id);
            add.setInt(2, r);
            try (ResultSet rs = add.executeQuery()) {
              rs.next();
              if (rs.getInt(1) != id + r) throw new IllegalStateException("sum " + rs.getInt(1));
              pids.add(rs.getInt(2));
            }
            serverPrepared.add(add.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare());
            c.setAutoCommit(false);
            echo.setString(1, "r" + r);
            try (ResultSet rs = echo.executeQuery()) {
              rs.next();
              if (!rs.getString(1).equals("r" + r)) throw new IllegalStateException(rs.getString(1));
            }
            c.commit();
            c.setAutoCommit(true);
          }
        }
        return null;
      }));
    }
    for (Future<Object> f : done) f.get();
    pool.shutdown();
    System.out.println("{\"pids\": " + pids.size() + ", \"server_prepared\": " + serverPrepared + "}");
  }
}
