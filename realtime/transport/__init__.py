"""Carrier serializers: one per carrier (ACS today; browser and Twilio later)."""
