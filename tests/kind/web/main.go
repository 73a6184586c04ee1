// Command web answers every request with $TOKEN and its host name: the kind tier's test image.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	token := os.Getenv("TOKEN")
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", token, host)
	})
	if err := http.ListenAndServe(":8080", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
