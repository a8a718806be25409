"""stormpack: a Sigma rule pack for Storm-0558 and mailbox-compromise tradecraft, its compiler
(Sentinel KQL, Defender XDR KQL, Splunk SPL, deployable artifacts) and a local matcher."""

__version__ = "0.1.0"
