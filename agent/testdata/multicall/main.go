// Command multicall stands in for a multi-call binary (kmod, busybox): it
// picks its tool by the name it was started as, and prints it.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() { fmt.Println("tool=" + filepath.Base(os.Args[0])) }
