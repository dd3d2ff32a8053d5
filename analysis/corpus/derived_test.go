package corpus

import (
	"reflect"
	"testing"
)

func TestPositionBucketOf(t *testing.T) {
	want := map[int]string{
		0: "0", 1: "1", 2: "2", 3: "3", 4: "4", 5: "5-9", 9: "5-9", 10: "10-14", 14: "10-14",
		15: "15-19", 19: "15-19", 20: "20+", 21: "20+", 1000: "20+",
	}
	for i, w := range want {
		if got := PositionBucketOf(i); got != w {
			t.Errorf("PositionBucketOf(%d) = %q, want %q", i, got, w)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("PositionBucketOf(-1) did not panic")
		}
	}()
	PositionBucketOf(-1)
}

func TestMonthOf(t *testing.T) {
	for tok, want := range map[string]string{
		"January": "January", "january": "January", "JANUARY": "January", "January.": "January",
		"February": "February", "april": "April", "June": "June", "july": "July",
		"August": "August", "september": "September", "OCTOBER": "October", "november": "November",
		"December": "December",
		// Ambiguous full names: exact capitalisation only.
		"May": "May", "May.": "May", "may": "O", "MAY": "O", "mAy": "O",
		"March": "March", "march": "O", "MARCH": "O",
		// Abbreviations with a period, any case.
		"Jan.": "January", "jan.": "January", "Feb.": "February", "Mar.": "March", "mar.": "March",
		"Apr.": "April", "Jun.": "June", "Jul.": "July", "Aug.": "August", "Sep.": "September",
		"Sept.": "September", "sept.": "September", "Oct.": "October", "Nov.": "November", "DEC.": "December",
		// Bare abbreviations: upper-case first letter only.
		"Jan": "January", "Dec": "December", "NOV": "November", "Sept": "September",
		"jan": "O", "dec": "O", "mar": "O", "sep": "O", "nov": "O",
		// Not months.
		"Ma": "O", "Mayday": "O", "Janu": "O", "Januar": "O", "Dezember": "O", "12.": "O",
		"": "O", ".": "O", "..": "O", "January..": "O", "Jan.uary": "O", "Aprİl": "O", "Ａpril": "O",
		"O": "O", "Sunday": "O",
	} {
		if got := MonthOf(tok); got != want {
			t.Errorf("MonthOf(%q) = %q, want %q", tok, got, want)
		}
	}
}

func TestDerivedProperties(t *testing.T) {
	want := []string{Position, PositionBucket, Month}
	got := DerivedProperties()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DerivedProperties() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if DerivedProperties()[0] != Position {
		t.Error("DerivedProperties returns shared storage")
	}
	s := &Sentence{Tokens: make([]string, 23)}
	for i := range s.Tokens {
		s.Tokens[i] = "w"
	}
	s.Tokens[21] = "Nov."
	for _, p := range want {
		labels, err := s.Labels(p)
		if err != nil || len(labels) != len(s.Tokens) {
			t.Fatalf("Labels(%q) = %d labels, %v; want %d", p, len(labels), err, len(s.Tokens))
		}
	}
	pos, _ := s.Labels(Position)
	bucket, _ := s.Labels(PositionBucket)
	month, _ := s.Labels(Month)
	if pos[0] != "0" || pos[12] != "12" || pos[22] != "22" {
		t.Errorf("position labels %q", pos)
	}
	if bucket[7] != "5-9" || bucket[22] != "20+" {
		t.Errorf("position-bucket labels %q", bucket)
	}
	if month[21] != "November" || month[20] != NotMonth {
		t.Errorf("month labels %q", month)
	}
}
