//! Small Go programs that tests build and run (each is a whole `main.go`).

/// Imports every standard package the test programs use, so that the shared
/// GOCACHE warm-up compiles them once for the whole suite.
pub const WARM_UP: &str = r#"package main

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	_ = bufio.NewReader(os.Stdin)
	_ = strings.ToUpper("x")
	signal.Ignore(syscall.SIGPIPE)
	fmt.Println(time.Second)
}
"#;

/// A trivial test, so that the warm-up also compiles `testing` and its test main.
pub const WARM_UP_TEST: &str = r#"package main

import "testing"

func TestNothing(t *testing.T) {}
"#;

/// Prints a fixed greeting and its arguments.
pub const HELLO: &str = r#"package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("hello from go")
	for _, a := range os.Args[1:] {
		fmt.Println("arg:", a)
	}
}
"#;

/// Exits with status 3 after printing a line.
pub const EXIT_3: &str = r#"package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("about to exit 3")
	os.Exit(3)
}
"#;

/// Does not compile: `undefined: notDefined`.
pub const COMPILE_ERROR: &str = r#"package main

func main() {
	notDefined()
}
"#;

/// Prints the environment variables named on its command line, one
/// `NAME=value` per line (`NAME` unset prints `NAME unset`).
pub const PRINT_ENV: &str = r#"package main

import (
	"fmt"
	"os"
)

func main() {
	for _, name := range os.Args[1:] {
		if v, ok := os.LookupEnv(name); ok {
			fmt.Printf("%s=%s\n", name, v)
		} else {
			fmt.Printf("%s unset\n", name)
		}
	}
}
"#;

/// Prints "ready", then sleeps up to 60 s with default signal handling.
/// It exits by itself as soon as its parent goes away, so that a go that was
/// killed while running it never leaves it behind (go does not forward
/// SIGTERM to a `go run` program).
pub const SLEEPER: &str = r#"package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	parent := os.Getppid()
	fmt.Println("ready")
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if os.Getppid() != parent {
			os.Exit(0)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("timeout")
	os.Exit(9)
}
"#;

/// Prints "ready", then waits for SIGHUP/SIGINT/SIGQUIT/SIGTERM, prints
/// "got <signal>" and exits with 40 + the signal number (41, 42, 43, 55).
/// Also exits when its parent goes away.
pub const SIGNAL_CATCHER: &str = r#"package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	parent := os.Getppid()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM)
	fmt.Println("ready")
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	for {
		select {
		case s := <-sigs:
			fmt.Println("got", s)
			os.Exit(40 + int(s.(syscall.Signal)))
		case <-tick.C:
			if os.Getppid() != parent {
				os.Exit(0)
			}
		case <-deadline:
			fmt.Println("timeout")
			os.Exit(9)
		}
	}
}
"#;

/// Kills itself with SIGKILL after printing a line.
pub const SELF_KILL: &str = r#"package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	fmt.Println("about to die")
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
"#;

/// A `go build -toolexec` wrapper that keeps go busy for signal tests.
///
/// Tool-ID queries (`-V=full`) go straight to the real tool. Every real tool
/// run is logged to `$BLOCKER_DIR/log` and then, unless `$BLOCKER_DIR/released`
/// exists, writes `$BLOCKER_DIR/ready` and waits: a caught SIGHUP/SIGINT/
/// SIGQUIT/SIGTERM creates `released` and exits 40 + the signal number; losing
/// its parent (go was killed) makes it exit 0. Once released, tool runs exit 42
/// at once, so that an interrupted go ends quickly.
pub const BLOCKER: &str = r#"package main

import (
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func logLine(dir, line string) {
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		f.WriteString(line + "\n")
		f.Close()
	}
}

func main() {
	dir := os.Getenv("BLOCKER_DIR")
	args := os.Args[1:]
	first := ""
	if len(args) > 1 {
		first = args[1]
	}
	logLine(dir, filepath.Base(args[0])+" "+first)
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-V") {
			syscall.Exec(args[0], args, os.Environ())
			os.Exit(97)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "released")); err == nil {
		os.Exit(42)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM)
	parent := os.Getppid()
	os.WriteFile(filepath.Join(dir, "ready"), []byte("ready\n"), 0o644)
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	for {
		select {
		case s := <-sigs:
			os.WriteFile(filepath.Join(dir, "released"), nil, 0o644)
			logLine(dir, "got "+s.String())
			os.Exit(40 + int(s.(syscall.Signal)))
		case <-tick.C:
			if os.Getppid() != parent {
				os.Exit(0)
			}
		case <-deadline:
			os.Exit(9)
		}
	}
}
"#;

/// Prints its whole environment, sorted, one `NAME=value` per line.
pub const ENV_DUMP: &str = r#"package main

import (
	"fmt"
	"os"
	"sort"
)

func main() {
	env := os.Environ()
	sort.Strings(env)
	for _, kv := range env {
		fmt.Println(kv)
	}
}
"#;

/// Copies stdin to stdout, upper-cased, then prints the byte count.
pub const UPPER_CAT: &str = r#"package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(bytes.ToUpper(in))
	fmt.Println(len(in))
}
"#;

/// Compiles, but `go vet` reports a Printf verb mismatch.
pub const VET_ERROR: &str = r#"package main

import "fmt"

func main() {
	fmt.Printf("%d\n", "not a number")
}
"#;

/// A test file for `package main` with one passing and one failing test.
pub const FAILING_TEST: &str = r#"package main

import "testing"

func TestPasses(t *testing.T) {}

func TestFails(t *testing.T) {
	t.Log("about to fail")
	t.Fatal("failed on purpose")
}
"#;

/// Writes numbered lines to stdout, forever (until a write kills it).
pub const CHATTY: &str = r#"package main

import "fmt"

func main() {
	for i := 0; ; i++ {
		fmt.Println("line", i)
	}
}
"#;
