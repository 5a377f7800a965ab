package gateway

import "net/http"

// subdomain serves requests for subdomain origins and redirects path
// requests on subdomain hosts; it reports whether it answered.
func (h *Handler) subdomain(w http.ResponseWriter, r *http.Request) bool {
	return false
}
