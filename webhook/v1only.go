package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxReviewBytes matches controller-runtime's own cap on admission bodies.
const maxReviewBytes = 7 * 1024 * 1024

// v1Only rejects AdmissionReviews of any version but admission.k8s.io/v1
// with a clear message: the configurations declare admissionReviewVersions
// [v1], so another version means a misconfigured caller, and
// controller-runtime would otherwise quietly coerce v1beta1 to v1.
func v1Only(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
		r.Body.Close()
		if err != nil {
			http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if v := reviewVersion(body); v != "" && v != admissionv1.SchemeGroupVersion.String() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			msg := fmt.Sprintf("AdmissionReview %s is not supported: headless-guard serves %s only (set admissionReviewVersions: [v1])", v, admissionv1.SchemeGroupVersion)
			_ = json.NewEncoder(w).Encode(admissionv1.AdmissionReview{
				TypeMeta: metav1.TypeMeta{APIVersion: v, Kind: "AdmissionReview"},
				Response: &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadRequest, Message: msg}},
			})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// reviewVersion returns the top-level apiVersion of a review. The API
// server writes it first, so one token usually settles it.
func reviewVersion(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	if key, err := dec.Token(); err == nil && key == "apiVersion" {
		if v, err := dec.Token(); err == nil {
			s, _ := v.(string)
			return s
		}
		return ""
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
	}
	_ = json.Unmarshal(body, &head)
	return head.APIVersion
}
