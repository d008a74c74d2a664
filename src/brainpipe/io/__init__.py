"""Reading and writing: BIDS inputs, BIDS-derivatives outputs, demo data."""
