package corpus

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Names of the derived properties, computed from the tokens of any corpus.
const (
	Position       = "position"        // 0-based token index: "0", "1", ...
	PositionBucket = "position-bucket" // bucketed index: "0"..."4", "5-9", "10-14", "15-19", "20+"
	Month          = "month"           // month named by the token ("January"...) or NotMonth
)

// NotMonth is the month label of a token that names no month.
const NotMonth = "O"

// derived computes each derived property's label from a token's index and
// text.
var derived = map[string]func(i int, token string) string{
	Position:       func(i int, _ string) string { return strconv.Itoa(i) },
	PositionBucket: func(i int, _ string) string { return PositionBucketOf(i) },
	Month:          func(_ int, token string) string { return MonthOf(token) },
}

// DerivedProperties returns the names of the derived properties, which
// every corpus offers.
func DerivedProperties() []string {
	return []string{Position, PositionBucket, Month}
}

// PositionBucketOf returns the position-bucket label of 0-based token index
// i: "0", "1", "2", "3", "4" for the first five tokens, then "5-9",
// "10-14", "15-19" and "20+". It panics if i is negative.
func PositionBucketOf(i int) string {
	switch {
	case i < 0:
		panic("corpus: negative token index")
	case i < 5:
		return strconv.Itoa(i)
	case i < 10:
		return "5-9"
	case i < 15:
		return "10-14"
	case i < 20:
		return "15-19"
	}
	return "20+"
}

var monthNames = [12]string{
	"January", "February", "March", "April", "May", "June",
	"July", "August", "September", "October", "November", "December",
}

// months maps the lower-cased spellings of month names and abbreviations
// to the month's index in monthNames.
var months = func() map[string]int {
	m := make(map[string]int)
	for i, name := range monthNames {
		m[strings.ToLower(name)] = i
		if len(name) > 3 {
			m[strings.ToLower(name[:3])] = i
		}
	}
	m["sept"] = 8
	return m
}()

// MonthOf returns the English name of the month that token names
// ("January" ... "December"), or NotMonth. One trailing period is ignored.
// Full names match ignoring case, except "May" and "March", which must be
// capitalised exactly so; abbreviations ("Jan", "Sept") match ignoring case
// when followed by a period, and only when their first letter is upper case
// otherwise. Only ASCII spellings match. See the package documentation.
func MonthOf(token string) string {
	word, period := strings.CutSuffix(token, ".")
	for i := 0; i < len(word); i++ {
		if word[i] >= utf8.RuneSelf {
			return NotMonth
		}
	}
	m, ok := months[strings.ToLower(word)]
	if !ok {
		return NotMonth
	}
	name := monthNames[m]
	if len(word) == len(name) { // full name
		if (name == "May" || name == "March") && word != name {
			return NotMonth
		}
		return name
	}
	if !period && (word[0] < 'A' || word[0] > 'Z') { // bare abbreviation
		return NotMonth
	}
	return name
}
