package api_test

import (
	"net/http"
	"strings"
)

// oaMetricsToken is the bearer token the test servers require on /metrics.
const oaMetricsToken = "metrics-token-for-the-api-tests"

// getMetricsToo is http.Get that sends the metrics token to /metrics.
func getMetricsToo(url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(url, "/metrics") {
		req.Header.Set("Authorization", "Bearer "+oaMetricsToken)
	}
	return http.DefaultClient.Do(req)
}
