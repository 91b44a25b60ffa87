"""FaceLab's data: photos, exemplars, model versions and recipes arrive with the editor (issue 5)."""
