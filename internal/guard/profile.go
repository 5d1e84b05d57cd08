package guard

import (
	"math"
	"strconv"
)

// Version is the profile format version, kept in Profile.V. A change to the
// meaning of a field needs a new version; readers of older manifests must
// keep reading the older ones.
const Version = 1

// Formats a Profile can have.
const (
	FormatCSV       = "csv"
	FormatTSV       = "tsv"
	FormatJSONL     = "jsonl"
	FormatJSON      = "json"
	FormatParquet   = "parquet"
	FormatPNG       = "png"
	FormatJPEG      = "jpeg"
	FormatGIF       = "gif"
	FormatPDF       = "pdf"
	FormatGzip      = "gzip"
	FormatZip       = "zip"
	FormatZstd      = "zstd"
	FormatBzip2     = "bzip2"
	FormatXZ        = "xz"
	Format7z        = "7z"
	FormatText      = "text"
	FormatBinary    = "binary"
	FormatEncrypted = "encrypted"
	FormatUnknown   = "unknown"
)

// Column types.
const (
	TypeInt       = "int"
	TypeFloat     = "float"
	TypeBool      = "bool"
	TypeString    = "string"
	TypeTimestamp = "timestamp" // stats are over Unix seconds
	TypeNull      = "null"      // every profiled value was null
)

// QuantileRanks are the ranks of Column.Quantiles: 0, 0.05, ..., 1.
var QuantileRanks = func() []float64 {
	r := make([]float64, 21)
	for i := range r {
		r[i] = float64(i) / 20
	}
	return r
}()

// Profile describes one object version's content compactly (a few KB for a
// table of a few dozen columns) so that it can live in the version's signed
// manifest and later versions can be judged against it. It is plain JSON.
type Profile struct {
	V      int    `json:"v"`
	Size   int64  `json:"size"`
	Format string `json:"format"`
	// Claimed is the format the object's name suggests (".csv" -> "csv")
	// when the content turned out to be something else.
	Claimed    string `json:"claimed,omitempty"`
	Parseable  bool   `json:"parseable"`
	ParseError string `json:"parse_error,omitempty"`
	// Entropy is the Shannon entropy of the bytes in bits per byte (0..8),
	// with the Miller-Madow small-sample correction; over the whole object
	// up to 1 MiB, then over 4 KiB of every 128 KiB.
	Entropy float64 `json:"entropy"`
	// EncryptedMagic names an encrypted-file marker found at the start of
	// the object ("age-encryption.org/v1", "openssl salted", ...), or at
	// the start of a gzip object's decompressed content.
	EncryptedMagic string `json:"encrypted_magic,omitempty"`
	// Compression is "gzip" when the object is a compressed table whose
	// decompressed content was profiled: Format, Parseable and the table
	// fields below describe that content; Size and Entropy the object.
	Compression string `json:"compression,omitempty"`
	// Decompressed is how many decompressed bytes were profiled.
	Decompressed int64 `json:"decompressed,omitempty"`
	// Truncated says that profiling stopped at
	// ProfileOptions.MaxDecompressed: Rows and the statistics cover the
	// first Decompressed bytes only (Rows is a lower bound).
	Truncated bool `json:"truncated,omitempty"`

	// Rows is the number of records of a table (header excluded).
	Rows int64 `json:"rows,omitempty"`
	// ProfiledRows is the number of records whose values went into the
	// column statistics: all of them, or a sample described by Sampling.
	ProfiledRows int64 `json:"profiled_rows,omitempty"`
	// Sampling says how records were sampled; empty when every record was
	// profiled.
	Sampling string `json:"sampling,omitempty"`
	// BadRows counts profiled records that could not be read (wrong field
	// count, invalid JSON).
	BadRows int64 `json:"bad_rows,omitempty"`
	// DistinctRows estimates the number of distinct profiled records (a
	// HyperLogLog over record hashes, about 1% error); ProfiledRows minus it
	// estimates the duplicates.
	DistinctRows float64 `json:"distinct_rows,omitempty"`
	// ColumnsTotal is the number of columns when it is more than the
	// profiled Columns (ProfileOptions.MaxColumns).
	ColumnsTotal int `json:"columns_total,omitempty"`
	// Schema is a hash of all column names, set when there are more than
	// the profiled Columns, so that a change among the others shows.
	Schema  string   `json:"schema,omitempty"`
	Columns []Column `json:"columns,omitempty"`
	// Groups are statistics of numeric columns within each value of a
	// categorical column (a label): they move when labels are flipped.
	Groups []Group `json:"groups,omitempty"`
	// Moments are the means and covariances of the numeric columns and of
	// indicators of categorical values, from which Check fits the
	// relationships between columns. Absent from profiles written before
	// they existed.
	Moments *Moments `json:"moments,omitempty"`
	// Residuals count the records that do not fit the relationships
	// between columns that the baseline showed (ProfileOptions.Model);
	// absent without a model.
	Residuals *Residuals `json:"residuals,omitempty"`
}

// Residuals count, per numeric column, the profiled records whose value
// lies more than Z residual standard deviations above or below what a
// Model predicted from their other columns.
type Residuals struct {
	Z       float64         `json:"z"`
	Columns []ResidualCount `json:"columns"`
	// More are further thresholds, ascending, whose counts are each
	// column's MoreAbove and MoreBelow (absent in profiles taken before
	// they were counted).
	More []float64 `json:"more,omitempty"`
}

// ResidualCount is one column's count of records far from their
// prediction, out of the N records that had every column the model uses.
type ResidualCount struct {
	Name  string `json:"name"`
	N     int64  `json:"n"`
	Above int64  `json:"above,omitempty"`
	Below int64  `json:"below,omitempty"`
	// MoreAbove and MoreBelow count the records beyond each of
	// Residuals.More.
	MoreAbove []int64 `json:"more_above,omitempty"`
	MoreBelow []int64 `json:"more_below,omitempty"`
}

// Column is the profile of one column over the profiled records. Columns
// after the 32nd have no Top, Quantiles or Hist, to keep profiles small.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Count is the number of profiled values, Nulls of them null.
	Nulls int64 `json:"nulls"`
	Count int64 `json:"count"`
	// Distinct estimates the number of distinct non-null values
	// (HyperLogLog, 2^10 registers, about 3% error).
	Distinct float64 `json:"distinct"`
	// Top holds the most frequent values (at most ProfileOptions.TopK) with
	// their counts; the counts are exact when the column has few distinct
	// values, otherwise upper bounds. Omitted for high-cardinality numbers.
	Top []ValueCount `json:"top,omitempty"`
	// Mean, Std, Min, Max and Quantiles are over the numeric values (Unix
	// seconds for timestamps). Quantiles are at QuantileRanks.
	Mean      float64   `json:"mean,omitempty"`
	Std       float64   `json:"std,omitempty"`
	Min       float64   `json:"min,omitempty"`
	Max       float64   `json:"max,omitempty"`
	Quantiles []float64 `json:"q,omitempty"`
	// Hist is the share of numeric values in bins of HistWidth (a power
	// of two) from HistStart (a multiple of it), covering the 1st to 99th
	// percentiles; its first and last entries are the shares below and
	// above. Grids of different profiles nest, so they compare exactly.
	Hist      []float64 `json:"hist,omitempty"`
	HistStart float64   `json:"hist_start,omitempty"`
	HistWidth float64   `json:"hist_width,omitempty"`
}

// ValueCount is a value and how many times it occurred.
type ValueCount struct {
	Value string `json:"v"`
	Count int64  `json:"n"`
}

// Group holds, for each frequent value of the categorical column By, the
// mean and standard deviation of the numeric columns over the records with
// that value.
type Group struct {
	By      string        `json:"by"`
	Values  []string      `json:"values"`
	Counts  []int64       `json:"counts"`
	Columns []GroupColumn `json:"columns"`
}

// GroupColumn is one numeric column's statistics per Group value (indexed
// like Group.Values).
type GroupColumn struct {
	Name string    `json:"name"`
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// Tabular reports whether the profile describes records and columns.
func (p *Profile) Tabular() bool {
	switch p.Format {
	case FormatCSV, FormatTSV, FormatJSONL, FormatJSON, FormatParquet:
		return true
	}
	return false
}

// DuplicateShare estimates the share of profiled records that repeat an
// earlier one.
func (p *Profile) DuplicateShare() float64 {
	if p.ProfiledRows <= 0 || p.DistinctRows <= 0 {
		return 0
	}
	return math.Max(0, 1-p.DistinctRows/float64(p.ProfiledRows))
}

// Column returns the column named name, or nil.
func (p *Profile) Column(name string) *Column {
	for i := range p.Columns {
		if p.Columns[i].Name == name {
			return &p.Columns[i]
		}
	}
	return nil
}

// NullRate is the share of null values.
func (c *Column) NullRate() float64 {
	if c.Count <= 0 {
		return 0
	}
	return float64(c.Nulls) / float64(c.Count)
}

// Numeric reports whether the column holds numbers.
func (c *Column) Numeric() bool { return c.Type == TypeInt || c.Type == TypeFloat }

// round keeps sig significant digits of x, which keeps profiles short, and
// makes non-finite values finite so that the profile is valid JSON.
func round(x float64, sig int) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	case x == 0:
		return 0
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', sig, 64), 64)
	if err != nil {
		return x
	}
	return r
}

// roundExp rounds x to a multiple of 10^e, and makes it finite.
func roundExp(x float64, e int) float64 {
	x = finite(x)
	if e >= 0 {
		p := math.Pow10(e)
		if r := math.Round(x/p) * p; !math.IsInf(r, 0) {
			return r
		}
		return x
	}
	if e < -300 {
		return x
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'f', -e, 64), 64)
	if err != nil || math.IsInf(r, 0) {
		return x
	}
	return r
}

// finite makes x finite without rounding it.
func finite(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}
