//! Reports: report.html with plots and failure diagrams, results.json, junit.xml.
