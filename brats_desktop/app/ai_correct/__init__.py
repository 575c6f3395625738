"""AI Correct: click or scribble where the labels are wrong, the click model corrects them (key A)."""
