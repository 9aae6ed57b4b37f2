"""Local stand-ins for Salesforce and DataFox/Clearbit speaking their REST shapes, and a visitor simulator."""
