package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func open(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestOpenSetsPragmasOnEveryConnection(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	db.SetMaxOpenConns(3)
	// hold three connections at once, so each is a connection of its own
	var conns []*sql.Conn
	for range 3 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		var fk, timeout int
		var mode string
		if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if fk != 1 || timeout < 1000 || mode != "wal" {
			t.Errorf("connection %d has foreign_keys=%d busy_timeout=%d journal_mode=%s", i, fk, timeout, mode)
		}
	}
}

func TestMigrate(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"m/002_add.sql":  {Data: []byte("ALTER TABLE t ADD COLUMN b TEXT;")},
		"m/001_init.sql": {Data: []byte("CREATE TABLE t (a INTEGER);")},
		"m/README.txt":   {Data: []byte("not a migration")},
	}
	if err := Migrate(ctx, db, "x", fsys, "m"); err != nil {
		t.Fatal(err)
	}
	// applying again is a no-op
	if err := Migrate(ctx, db, "x", fsys, "m"); err != nil {
		t.Fatal(err)
	}
	var n int
	db.QueryRow("SELECT COUNT(*) FROM schema_migrations WHERE component = 'x'").Scan(&n)
	if n != 2 {
		t.Errorf("%d migrations recorded, want 2", n)
	}
	if _, err := db.Exec("INSERT INTO t (a, b) VALUES (1, 'x')"); err != nil {
		t.Errorf("migrated table: %v", err)
	}
	// a broken migration leaves nothing half-applied
	fsys["m/003_broken.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE u (a INTEGER); THIS IS NOT SQL;")}
	err := Migrate(ctx, db, "x", fsys, "m")
	if err == nil || !strings.Contains(err.Error(), "003_broken.sql") {
		t.Fatalf("broken migration: %v", err)
	}
	if _, err := db.Exec("SELECT * FROM u"); err == nil {
		t.Error("the broken migration's first statement was kept")
	}
	// a misnamed or doubly numbered file is refused
	bad := fstest.MapFS{"m/init.sql": {Data: []byte("SELECT 1;")}}
	if err := Migrate(ctx, db, "y", bad, "m"); err == nil {
		t.Error("a migration without a number was accepted")
	}
	dup := fstest.MapFS{"m/001_a.sql": {Data: []byte("SELECT 1;")}, "m/001_b.sql": {Data: []byte("SELECT 1;")}}
	if err := Migrate(ctx, db, "z", dup, "m"); err == nil {
		t.Error("two migrations with one number were accepted")
	}
}
