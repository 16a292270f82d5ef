package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
)

// The SPDX 2.3 JSON fields this SBOM uses (spdx.github.io/spdx-spec/v2.3).
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string            `json:"name"`
	SPDXID           string            `json:"SPDXID"`
	VersionInfo      string            `json:"versionInfo"`
	DownloadLocation string            `json:"downloadLocation"`
	FilesAnalyzed    bool              `json:"filesAnalyzed"`
	Checksums        []spdxChecksum    `json:"checksums,omitempty"`
	ExternalRefs     []spdxExternalRef `json:"externalRefs,omitempty"`
	PrimaryPurpose   string            `json:"primaryPackagePurpose,omitempty"`
}

type spdxChecksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

var spdxIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// sbom describes the binary at path from its Go build information (what
// `go version -m` prints): the main module at version, every module
// linked into it, and the Go standard library, each with its package URL.
func sbom(path string, bin []byte, version string, when time.Time) ([]byte, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sum := sha256.Sum256(bin)
	name := filepath.Base(path)
	main := spdxPackage{
		Name:             info.Main.Path,
		SPDXID:           "SPDXRef-Package-" + spdxIDUnsafe.ReplaceAllString(name, "-"),
		VersionInfo:      version,
		DownloadLocation: "NOASSERTION",
		Checksums:        []spdxChecksum{{"SHA256", hex.EncodeToString(sum[:])}},
		ExternalRefs:     []spdxExternalRef{purl(info.Main.Path, version)},
		PrimaryPurpose:   "APPLICATION",
	}
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3",
		DataLicense: "CC0-1.0",
		SPDXID:      "SPDXRef-DOCUMENT",
		Name:        name,
		// Unique per binary, and the same for the same binary.
		DocumentNamespace: "https://github.com/headless-guard/headless-guard/spdx/" + name + "-" + hex.EncodeToString(sum[:]),
		CreationInfo: spdxCreationInfo{
			Created:  when.Format(time.RFC3339),
			Creators: []string{"Tool: headless-guard-hack-image", "Organization: headless-guard"},
		},
		Packages:      []spdxPackage{main},
		Relationships: []spdxRelationship{{"SPDXRef-DOCUMENT", "DESCRIBES", main.SPDXID}},
	}
	deps := append([]*debug.Module{{Path: "stdlib", Version: strings.TrimPrefix(info.GoVersion, "go")}}, info.Deps...)
	for _, m := range deps {
		if m.Replace != nil {
			m = m.Replace
		}
		p := spdxPackage{
			Name:             m.Path,
			SPDXID:           "SPDXRef-Package-" + spdxIDUnsafe.ReplaceAllString(m.Path+"-"+m.Version, "-"),
			VersionInfo:      m.Version,
			DownloadLocation: "NOASSERTION",
			ExternalRefs:     []spdxExternalRef{purl(m.Path, m.Version)},
			PrimaryPurpose:   "LIBRARY",
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{main.SPDXID, "DEPENDS_ON", p.SPDXID})
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	return append(out, '\n'), err
}

// purl is a Go module's package URL (github.com/package-url/purl-spec).
func purl(path, version string) spdxExternalRef {
	return spdxExternalRef{"PACKAGE-MANAGER", "purl", "pkg:golang/" + path + "@" + version}
}
